package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tmuxDriver runs a command in a detached tmux session on a private server
// socket (so it never touches the user's own tmux), types keys and reads
// the screen.
type tmuxDriver struct {
	t       *testing.T
	sock    string
	session string
	last    string
}

func (d *tmuxDriver) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-L", d.sock, "-f", "/dev/null"}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (d *tmuxDriver) screen() string {
	d.t.Helper()
	out, err := d.tmux("capture-pane", "-p", "-t", d.session)
	if err != nil {
		d.t.Fatalf("capture-pane: %v: %s\nlast screen:\n%s", err, out, d.last)
	}
	d.last = out
	return out
}

func (d *tmuxDriver) keys(keys ...string) {
	d.t.Helper()
	if out, err := d.tmux(append([]string{"send-keys", "-t", d.session}, keys...)...); err != nil {
		d.t.Fatalf("send-keys %v: %v: %s", keys, err, out)
	}
}

// waitFor polls the screen until ok accepts it, or fails after timeout.
func (d *tmuxDriver) waitFor(what string, timeout time.Duration, ok func(screen string) bool) string {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := d.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("waited %s for %s; the screen:\n%s", timeout, what, s)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

func (d *tmuxDriver) waitText(text string, timeout time.Duration) string {
	d.t.Helper()
	return d.waitFor(fmt.Sprintf("%q", text), timeout, func(s string) bool { return strings.Contains(s, text) })
}

var statusRE = regexp.MustCompile(`irq-toggle n=\d+ │ (\S+) │ (paused at 0x[0-9a-f]+|[^│]*) │ (?:(\d+) insns · )?(\d+) exits`)

// status parses the status bar: strategy, state, instructions, exits.
func status(screen string) (strategy, state, insns, exits string) {
	first, _, _ := strings.Cut(screen, "\n")
	m := statusRE.FindStringSubmatch(first)
	if m == nil {
		return "", "", "", ""
	}
	return m[1], strings.TrimSpace(m[2]), m[3], m[4]
}

// TestEndToEndTmux builds the real binary and drives `virtsim tui` in a
// 100×30 tmux pane the way a student would: open irq-toggle under trap,
// step, run to exits until a cli is explained, switch to bt and run the same
// code without cli/sti exits, look at its translation, open the compare
// view, quit.
func TestEndToEndTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux): the end-to-end test drives the real binary in a tmux pane")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH: the end-to-end test builds cmd/virtsim")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "virtsim")
	build := exec.Command(goTool, "build", "-o", bin, "virtsim/cmd/virtsim")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build virtsim/cmd/virtsim: %v\n%s", err, out)
	}
	statusFile := filepath.Join(dir, "status")
	d := &tmuxDriver{t: t, sock: fmt.Sprintf("virtsim-e2e-%d", os.Getpid()), session: "tui"}
	script := fmt.Sprintf("%s tui --guest irq-toggle --strategy trap; echo $? > %s", bin, statusFile)
	if out, err := d.tmux("new-session", "-d", "-s", d.session, "-x", "100", "-y", "30", "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { d.tmux("kill-server") })

	// open: the guest boots paused at its entry
	s := d.waitFor("the guest to boot, paused", 20*time.Second, func(s string) bool {
		_, state, _, _ := status(s)
		return strings.HasPrefix(state, "paused at")
	})
	if strat, _, insns, _ := status(s); strat != "trap" || insns != "0" {
		t.Fatalf("opened under %q with %s instructions:\n%s", strat, insns, s)
	}
	for _, pane := range []string{"code at ", "cpu  real      virtual", "events", "counts", "serial", "? help"} {
		if !strings.Contains(s, pane) {
			t.Errorf("the screen lacks %q:\n%s", pane, s)
		}
	}

	// s: one instruction
	d.keys("s")
	d.waitFor("one instruction", 10*time.Second, func(s string) bool {
		_, state, insns, _ := status(s)
		return insns == "1" && strings.HasPrefix(state, "paused at")
	})

	// n: run to the next exit until the loop's cli is explained
	explained := false
	for i := 0; i < 20 && !explained; i++ {
		_, _, _, before := status(d.last)
		d.keys("n")
		s = d.waitFor("the next exit", 10*time.Second, func(s string) bool {
			_, state, _, exits := status(s)
			return exits != before && strings.HasPrefix(state, "paused at")
		})
		explained = strings.Contains(s, "cli at CPL 1 raises #GP: the VMM clears the virtual IF") ||
			strings.Contains(s, "sti at CPL 1 raises #GP: the VMM sets the virtual IF")
	}
	if !explained {
		t.Fatalf("no cli/sti exit explained after 20 runs to the next exit:\n%s", s)
	}
	if !strings.Contains(s, "priv/cli") || !regexp.MustCompile(`IF\s+1\s+0\s+≠`).MatchString(s) {
		t.Errorf("after cli: no priv/cli event, or real IF 1 beside virtual IF 0 not marked:\n%s", s)
	}

	// tab: the next available strategy, from the start
	d.keys("Tab")
	s = d.waitFor("another strategy, booted", 20*time.Second, func(s string) bool {
		strat, state, _, _ := status(s)
		return strat != "" && strat != "trap" && strings.HasPrefix(state, "paused at")
	})
	next, _, _, _ := status(s)
	if next != "bt" {
		t.Fatalf("tab from trap went to %q, want bt (the strategies are in order native, trap, bt, pv, kvm):\n%s", next, s)
	}

	// n under bt: the same code runs; its cli/sti are rewritten in the TC,
	// so the exits that come are I/O and descriptor loads, never cli/sti.
	for i := 0; i < 6; i++ {
		_, _, _, before := status(d.last)
		d.keys("n")
		s = d.waitFor("the next exit under bt", 20*time.Second, func(s string) bool {
			_, state, _, exits := status(s)
			return exits != before && strings.HasPrefix(state, "paused at")
		})
	}
	if regexp.MustCompile(`priv/(cli|sti)\s+callout`).MatchString(s) {
		t.Errorf("under bt a cli/sti was an exit:\n%s", s)
	}

	// t: the translation view — the guest block beside its translation
	d.keys("t")
	s = d.waitFor("the translation view", 10*time.Second, func(s string) bool {
		return strings.Contains(s, "guest block") && strings.Contains(s, "translation cache")
	})

	// esc goes back to the guest (a separate key press: an escape followed
	// at once by a letter reads as alt+letter)
	d.keys("Escape")
	d.waitText("events", 10*time.Second)

	// v: every available strategy's counts side by side
	d.keys("v")
	s = d.waitFor("the comparison to finish", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "compare") && strings.Contains(s, "stopped") && !strings.Contains(s, "running…") && !strings.Contains(s, "waiting")
	})
	for _, want := range []string{"native", "trap", "bt", "priv/cli", "4001 trap", "4001 in-tc", "priv/sti", "4000 trap", "4000 in-tc", "exit 0"} {
		if !strings.Contains(s, want) {
			t.Errorf("the compare view lacks %q:\n%s", want, s)
		}
	}

	// q: quit, status 0
	d.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(statusFile)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			if st := strings.TrimSpace(string(b)); st != "0" {
				t.Errorf("virtsim tui exited with status %s", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtsim tui did not quit on q; the screen:\n%s", d.last)
		}
		time.Sleep(40 * time.Millisecond)
	}
}
