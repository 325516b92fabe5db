package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run --save-at, then restore under another strategy: stdout is the
// uninterrupted run's, the summary shows both legs; damaged states and
// impossible moves are refused with the documented statuses.
func TestSaveRestoreCLI(t *testing.T) {
	_, want, _ := run(t, "run", "--guest", "timer", "--args", "n=3", "--no-timing", "--quiet")
	dir := filepath.Join(t.TempDir(), "vm")
	status, out1, errOut := run(t, "run", "--guest", "timer", "--args", "n=3", "--strategy", "bt", "--save-at", "5000", "--save-dir", dir)
	if status != 0 || !strings.Contains(errOut, "saved timer under bt at instruction") {
		t.Fatalf("save: status %d, stderr:\n%s", status, errOut)
	}
	status, out2, errOut := run(t, "restore", dir, "--strategy", "trap")
	if status != 0 {
		t.Fatalf("restore: status %d, stderr:\n%s", status, errOut)
	}
	if out2 != want {
		t.Errorf("restored output\n%q\nwant\n%q", out2, want)
	}
	if !strings.HasPrefix(want, out1) {
		t.Errorf("the saving run printed %q, not a prefix of %q", out1, want)
	}
	if !strings.Contains(errOut, "legs: bt (") || !strings.Contains(errOut, "-> trap (") {
		t.Errorf("the summary does not show the legs:\n%s", errOut)
	}
	if status, _, errOut := run(t, "restore", dir, "--strategy", "pv"); status != exitUsage || !strings.Contains(errOut, "refused") {
		t.Errorf("native build to pv: status %d, stderr %s", status, errOut)
	}
	m := filepath.Join(dir, "manifest.json")
	b, err := os.ReadFile(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m, []byte(strings.Replace(string(b), `"version": 1`, `"version": 7`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, _, errOut := run(t, "restore", dir); status != exitBadImage || !strings.Contains(errOut, "version 7") {
		t.Errorf("wrong version: status %d, stderr %s", status, errOut)
	}
	if status, _, _ := run(t, "restore", filepath.Join(dir, "nothing")); status != exitNoInput {
		t.Errorf("missing directory: status %d, want %d", status, exitNoInput)
	}
	if status, _, _ := run(t, "run", "--guest", "hello", "--save-at", "100"); status != exitUsage {
		t.Errorf("--save-at without --save-dir: status %d", status)
	}
}

func TestRunVMs(t *testing.T) {
	status, out, errOut := run(t, "run", "--vms", "3", "--guest", "hello", "--slice", "400")
	if status != 0 {
		t.Fatalf("status %d, stderr:\n%s", status, errOut)
	}
	for _, s := range []string{"hello-0  hello  native", "hello-1  hello  trap", "hello-2  hello  bt", "Hello from a virtsim guest!"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

// Live migration through the command line: a destination and a source
// (here two goroutines; two processes in use) over loopback TCP.
func TestMigrateCLI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	type out struct {
		status      int
		stdout, err string
	}
	done := make(chan out, 1)
	go func() {
		var o, e bytes.Buffer
		st := realMain([]string{"migrate", "--listen", addr, "--strategy", "native"}, &o, &e)
		done <- out{st, o.String(), e.String()}
	}()
	plotPath := filepath.Join(t.TempDir(), "rounds.svg")
	var status int
	var errOut string
	for i := 0; i < 50; i++ { // until the destination listens
		if status, _, errOut = run(t, "migrate", "--to", addr, "--guest", "hello", "--args", "n=3", "--strategy", "trap", "--at", "800", "--round", "300", "--plot", plotPath); !strings.Contains(errOut, "connection refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status != 0 || !strings.Contains(errOut, "moved to") || !strings.Contains(errOut, "stop-and-copy at instruction") {
		t.Fatalf("source: status %d, stderr:\n%s", status, errOut)
	}
	d := <-done
	_, want, _ := run(t, "run", "--guest", "hello", "--args", "n=3", "--no-timing", "--quiet")
	if d.status != 0 || d.stdout != want || !strings.Contains(d.err, "legs: trap (") || !strings.Contains(d.err, "-> native (") {
		t.Errorf("destination: status %d, stdout %q (want %q), stderr:\n%s", d.status, d.stdout, want, d.err)
	}
	if fi, err := os.Stat(plotPath); err != nil || fi.Size() == 0 {
		t.Errorf("no plot of the rounds: %v", err)
	}
}
