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

// startTUI builds the real binary and starts `virtsim tui ARGS` in a w×h
// tmux pane; the file it returns receives the command's exit status.
func startTUI(t *testing.T, w, h int, args ...string) (*tmuxDriver, string) {
	t.Helper()
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
	d := &tmuxDriver{t: t, sock: fmt.Sprintf("virtsim-e2e-%d-%s", os.Getpid(), t.Name()), session: "tui"}
	script := fmt.Sprintf("%s tui %s; echo $? > %s", bin, strings.Join(args, " "), statusFile)
	if out, err := d.tmux("new-session", "-d", "-s", d.session, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { d.tmux("kill-server") })
	return d, statusFile
}

var statusRE = regexp.MustCompile(`irq-toggle n=\d+ │ (\S+) │ (paused at 0x[0-9a-f]+|[^│]*) │ (?:(\d+) insns(?:\+TC| \(\d+ in TC\))? · )?(\d+) exits`)

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
	d, statusFile := startTUI(t, 100, 30, "--guest", "irq-toggle", "--strategy", "trap", "--classic-if")

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
	waitQuit(t, d, statusFile)
}

// TestEndToEndBTInTC80x24 walks a bt session at 80×24, the smallest
// terminal a student is promised: run to the exits before irq-toggle's
// loop, step into the loop until its cli has run as translated code, and
// find that cli in the event log — no exit, its explanation whole — with
// the virtual IF cleared while the real one stays set; then the
// translation view with cli as a store to vcpu.IF and the name explained,
// and the help view scrolled to its end.
func TestEndToEndBTInTC80x24(t *testing.T) {
	d, statusFile := startTUI(t, 80, 24, "--guest", "irq-toggle", "--strategy", "bt", "--args", "n=3")
	d.waitFor("the guest to boot under bt, paused", 20*time.Second, func(s string) bool {
		strat, state, _, _ := status(s)
		return strat == "bt" && strings.HasPrefix(state, "paused at")
	})
	// n until the runtime's last exit before the loop (it masks the
	// slave PIC: io/out:0xa1)
	var s string
	for i := 0; i < 20 && !strings.Contains(s, "io/out:0xa1"); i++ {
		_, _, _, before := status(d.last)
		d.keys("n")
		s = d.waitFor("the next exit under bt", 30*time.Second, func(s string) bool {
			_, state, _, exits := status(s)
			return exits != before && strings.HasPrefix(state, "paused at")
		})
	}
	if !strings.Contains(s, "io/out:0xa1") {
		t.Fatalf("no io/out:0xa1 exit after 20 runs to the next exit:\n%s", s)
	}
	// s until the loop's cli has run: an in-TC event at a known PC
	cliRow := regexp.MustCompile(`(?m)^[0-9a-f]{8} priv/cli\s+in-tc\s+the translator rewrote cli`)
	for i := 0; i < 400 && !cliRow.MatchString(s); i++ {
		_, _, insns, _ := status(d.last)
		d.keys("s")
		s = d.waitFor("one step", 20*time.Second, func(s string) bool {
			_, state, n, _ := status(s)
			return n != insns && strings.HasPrefix(state, "paused at")
		})
	}
	if !cliRow.MatchString(s) {
		t.Fatalf("no in-TC cli in the event log after 400 steps:\n%s", s)
	}
	why := strings.Join(strings.Fields(s[strings.Index(s, "why: "):]), " ")
	if !strings.Contains(why, "why: the translator rewrote cli to clear the virtual IF in place: no exit") {
		t.Errorf("the in-TC cli's explanation is not shown whole:\n%s", s)
	}
	if regexp.MustCompile(`priv/cli\s+callout`).MatchString(s) {
		t.Errorf("under bt a cli was an exit:\n%s", s)
	}
	if !regexp.MustCompile(`IF\s+1\s+0\s+≠`).MatchString(s) {
		t.Errorf("after the in-TC cli: real IF 1 beside virtual IF 0 not shown:\n%s", s)
	}
	for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Errorf("line %d is %d columns wide at 80×24: %q", i, w, l)
		}
	}

	// t: cli beside the store that replaced it, and the name explained
	d.keys("t")
	s = d.waitFor("the translation of the loop", 10*time.Second, func(s string) bool {
		return strings.Contains(s, "guest block") && strings.Contains(s, "vcpu.IF")
	})
	if !regexp.MustCompile(`cli .*│\S+\s+movb \$0x0,vcpu\.IF`).MatchString(s) || !strings.Contains(s, "vcpu.IF: the virtual interrupt flag") {
		t.Errorf("the translation view does not show cli beside its store to vcpu.IF, or does not explain vcpu.IF:\n%s", s)
	}
	d.keys("Escape")
	d.waitText("events", 10*time.Second)

	// ?: help scrolls to its last section
	d.keys("?")
	d.waitText("more lines", 10*time.Second)
	for i := 0; i < 20 && !strings.Contains(d.last, "kvm "); i++ {
		d.keys("Space")
		time.Sleep(100 * time.Millisecond)
		d.screen()
	}
	if !strings.Contains(d.last, "strategies") || !strings.Contains(d.last, "kvm ") {
		t.Errorf("the help view did not scroll to the strategies:\n%s", d.last)
	}
	d.keys("q")
	waitQuit(t, d, statusFile)
}

// waitQuit waits for the tui to exit and checks its status.
func waitQuit(t *testing.T, d *tmuxDriver, statusFile string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(statusFile)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			if st := strings.TrimSpace(string(b)); st != "0" {
				t.Errorf("virtsim tui exited with status %s", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtsim tui did not quit on q; the screen:\n%s", d.last)
		}
		time.Sleep(40 * time.Millisecond)
	}
}
