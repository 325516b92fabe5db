package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
