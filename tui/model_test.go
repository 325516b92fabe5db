package tui

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"virtsim/guest"
	"virtsim/vmm"
)

var errFake = errors.New("fake boot failure")

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestMain(m *testing.M) {
	// frames are compared as plain text: no color, whatever the terminal
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// harness is a model over fake sessions.
type harness struct {
	t       *testing.T
	m       *Model
	engines []*fakeEngine
	runs    []string
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{t: t}
	d := deps{
		strategies: fakeStrategies(),
		start: func(spec sessionSpec) engine {
			e := &fakeEngine{spec: spec}
			h.engines = append(h.engines, e)
			return e
		},
		run: func(s *vmm.Strategy, _ *guest.Image, _ vmm.Config) (*vmm.Result, error) {
			h.runs = append(h.runs, s.Name)
			return fakeResult(s.Name), nil
		},
	}
	m, err := newModel(opts, d)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.do(m.Init())
	if m.img != nil {
		m.img = fxImage()
	}
	return h
}

// send delivers a message and runs the commands it returns (except the
// ones that would wait for a real guest or quit).
func (h *harness) send(msg tea.Msg) tea.Cmd {
	h.t.Helper()
	_, cmd := h.m.Update(msg)
	return cmd
}

// do runs a command's messages through the model, depth first.
func (h *harness) do(cmd tea.Cmd) {
	h.t.Helper()
	if cmd == nil {
		return
	}
	msg := cmd()
	switch msg := msg.(type) {
	case nil, tea.QuitMsg:
		return
	case tea.BatchMsg:
		for _, c := range msg {
			h.do(c)
		}
		return
	}
	h.do(h.send(msg))
}

func (h *harness) key(k string) tea.Cmd {
	h.t.Helper()
	var msg tea.KeyMsg
	switch k {
	case "tab":
		msg = tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		msg = tea.KeyMsg{Type: tea.KeyShiftTab}
	case "esc":
		msg = tea.KeyMsg{Type: tea.KeyEsc}
	case "enter":
		msg = tea.KeyMsg{Type: tea.KeyEnter}
	default:
		msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
	}
	return h.send(msg)
}

func (h *harness) engine() *fakeEngine { return h.engines[len(h.engines)-1] }

// boot answers the current session's boot with the fixture.
func (h *harness) boot() {
	h.send(bootedMsg{gen: h.m.gen})
	h.m.img = fxImage()
	h.send(withCounts(fxUpdate(h.m.gen, -1, fxMain, 0), nil))
}

func fakeResult(strategy string) *vmm.Result {
	r := &vmm.Result{Strategy: strategy, Counts: vmm.Counts{}, Instructions: 25405, Stop: vmm.Stop{Kind: vmm.StopExit}}
	mech := vmm.MechMachine
	if strategy == "trap" {
		mech = vmm.MechTrap
		r.Counts[vmm.Key{Cause: "priv/cli", Mech: mech}] = 4001
		r.Counts[vmm.Key{Cause: "priv/sti", Mech: mech}] = 4000
		r.Counts[vmm.Key{Cause: "priv/lgdt", Mech: mech}] = 1
	}
	r.Counts[vmm.Key{Cause: "io/in:0x3fd", Mech: mech}] = 30
	r.Counts[vmm.Key{Cause: "io/out:0x3f8", Mech: mech}] = 30
	r.Counts[vmm.Key{Cause: "io/out:0xf4", Mech: mech}] = 1
	r.Exits = r.Counts.Exits()
	return r
}

// golden compares a frame with testdata/NAME.golden (-update rewrites it).
func golden(t *testing.T, name, frame string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(frame), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -update to create it)", err)
	}
	if string(want) != frame {
		t.Errorf("frame %s differs from %s (go test ./tui -update rewrites it):\n--- got\n%s\n--- want\n%s", name, path, frame, want)
	}
}

// checkFrame asserts the frame fills the terminal exactly.
func checkFrame(t *testing.T, frame string, w, h int) {
	t.Helper()
	lines := strings.Split(frame, "\n")
	if len(lines) != h {
		t.Errorf("%d×%d: %d lines", w, h, len(lines))
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("%d×%d: line %d is %d wide: %q", w, h, i, lw, l)
		}
	}
}

// TestMainFrames steps the fixture under trap to the loop's first cli and
// renders it at two sizes, then after the guest exits.
func TestMainFrames(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "trap"})
	h.boot()
	golden(t, "boot_80x24", h.m.View())

	// n to each boot-time exit, then to the loop's cli
	for i, ev := range fxBoot {
		h.key("n")
		h.send(withCounts(fxUpdate(h.m.gen, ctlNext, ev.PC+2, uint64(100*(i+1)), ev), fxBoot[:i+1]))
	}
	h.key("n")
	if h.m.state != runBusy || h.engine().sent[len(h.engine().sent)-1] != ctlNext {
		t.Fatalf("after n: state %v, sent %v", h.m.state, h.engine().sent)
	}
	cli := vmm.Event{Cause: "priv/cli", Mech: vmm.MechTrap, PC: fxLoop}
	all := append(append([]vmm.Event(nil), fxBoot...), cli)
	h.send(withCounts(fxUpdate(h.m.gen, ctlNext, fxLoop+1, 4580, cli), all))
	if h.m.state != runPaused {
		t.Fatalf("state %v after the answer", h.m.state)
	}
	frame := h.m.View()
	checkFrame(t, frame, 80, 24)
	golden(t, "trap_cli_80x24", frame)
	for _, want := range []string{"cli at CPL 1 raises #GP: the VMM clears the virtual IF", "▶ 00101008", "paused at 0x00101008", "IF   1         0        ≠"} {
		if !strings.Contains(frame, want) {
			t.Errorf("frame lacks %q", want)
		}
	}

	h.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	frame = h.m.View()
	checkFrame(t, frame, 100, 30)
	golden(t, "trap_cli_100x30", frame)

	// c runs to the end
	h.key("c")
	if h.m.state != runRunning {
		t.Fatalf("state %v after c", h.m.state)
	}
	u := withCounts(fxUpdate(h.m.gen, -1, fxMain+0x18, 25405, vmm.Event{Cause: "io/out:0xf4", Mech: vmm.MechTrap, PC: fxMain + 0x17}), all)
	u.Snap.Stop = vmm.Stop{Kind: vmm.StopExit, PC: fxMain + 0x18}
	u.Snap.Serial = "irq-toggle: n=4000 pairs=4000\n"
	h.send(u)
	frame = h.m.View()
	golden(t, "trap_exited_100x30", frame)
	if h.m.state != runStopped || !strings.Contains(frame, "exited, status 0") {
		t.Errorf("state %v, frame:\n%s", h.m.state, frame)
	}
	// a stopped guest does not step; it says how to go on
	h.key("s")
	if !strings.Contains(h.m.View(), "the guest has stopped: r runs it again") {
		t.Errorf("no hint after s on a stopped guest")
	}
}

func TestNativeFrame(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "native"})
	h.boot()
	u := fxUpdate(h.m.gen, ctlStep, fxLoop+1, 4580)
	u.Snap.Virtual, u.Snap.HasVirtual = vmm.CPUState{}, false
	u.Snap.Real.EFLAGS &^= 0x200
	u.Snap.Real.CPL, u.Snap.Real.Seg = 0, [6]uint16{0x10, 0x08, 0x10, 0x10, 0x10, 0x10}
	u.Snap.Real.GDTBase, u.Snap.Real.IDTBase = fxGDT, 0x1061d0
	h.key("s")
	h.send(u)
	golden(t, "native_80x24", h.m.View())
}

// Under a binary translator the status bar names the translation
// cache's share of the instructions executed, so that the count is not
// read as the guest's own.
func TestStatusBarTCInstructions(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "trap"})
	h.boot()
	u := fxUpdate(h.m.gen, ctlStep, fxLoop+1, 4580)
	u.Snap.Counters = map[string]uint64{vmm.CounterTCInstructions: 4000, "bt/insns": 90}
	h.key("s")
	h.send(u)
	// 80 columns: no room for the share; the count says it includes the TC
	for _, c := range []struct {
		w    int
		want string
	}{{80, "4580 insns+TC · 0 exits"}, {120, "4580 insns (4000 in TC) · 0 exits"}} {
		h.send(tea.WindowSizeMsg{Width: c.w, Height: 30})
		first, _, _ := strings.Cut(h.m.View(), "\n")
		if !strings.Contains(first, c.want) {
			t.Errorf("%d columns: status bar %q lacks %q", c.w, first, c.want)
		}
		if _, _, insns, exits := status(first); insns != "4580" || exits != "0" {
			t.Errorf("the end-to-end tests' status parser reads %q insns, %q exits from %q", insns, exits, first)
		}
	}
	if got := insnsText(4580, nil, ""); got != "4580" {
		t.Errorf("without a TC: %q", got)
	}
}

// The compare view's instructions row: bt's count with its TC share, and
// "not counted" for a run that counted none (kvm), not 0.
func TestCompareInstructionsCell(t *testing.T) {
	exit := vmm.Stop{Kind: vmm.StopExit}
	for _, c := range []struct {
		res  vmm.Result
		want string
	}{
		{vmm.Result{Stop: exit, Instructions: 1200}, "1200"},
		{vmm.Result{Stop: exit, Instructions: 3000, Counters: map[string]uint64{vmm.CounterTCInstructions: 2900}}, "3000 (2900 in TC)"},
		{vmm.Result{Stop: exit}, "not counted"},
	} {
		res := c.res
		if got := summaryCell(compareRow{State: cmpDone, Res: &res}, "instructions"); got != c.want {
			t.Errorf("%+v: %q, want %q", c.res, got, c.want)
		}
	}
}

func TestTranslationFrames(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "trap"})
	h.boot()
	h.key("t")
	e := h.engine()
	if e.sent[len(e.sent)-1] != ctlTransOn || h.m.view != viewTrans {
		t.Fatalf("t: view %v, sent %v", h.m.view, e.sent)
	}
	u := fxUpdate(h.m.gen, ctlTransOn, fxLoop, 4579)
	u.Snap.Trans = &Translation{PC: fxLoop}
	h.send(u)
	golden(t, "trans_none_80x24", h.m.View())

	// a translator's answer, side by side
	u.Snap.Trans = &Translation{PC: fxLoop, Supported: true, OK: true,
		Guest: "00101007  cli\n00101008  sti\n00101009  inc %ebx\n0010100a  dec %ecx\n0010100b  jne irq_toggle_loop",
		Code:  "fffc2000  movb $0x0,vcpu_if\nfffc2007  call vmm_sti\nfffc200c  inc %ebx\nfffc200d  dec %ecx\nfffc200e  jne tc_101007"}
	h.send(u)
	golden(t, "trans_bt_80x24", h.m.View())

	h.key("esc")
	if e.sent[len(e.sent)-1] != ctlTransOff || h.m.view != viewMain {
		t.Errorf("esc: view %v, sent %v", h.m.view, e.sent)
	}
}

func TestCompareFrame(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "trap"})
	h.boot()
	h.do(h.key("v"))
	if strings.Join(h.runs, ",") != "native,trap" {
		t.Errorf("compare ran %v, want native and trap (bt and kvm are unavailable)", h.runs)
	}
	frame := h.m.View()
	golden(t, "compare_80x24", frame)
	// v again does not run them again
	h.key("esc")
	h.do(h.key("v"))
	if len(h.runs) != 2 {
		t.Errorf("compare re-ran: %v", h.runs)
	}
}

func TestSmallTerminal(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "trap"})
	h.boot()
	h.send(tea.WindowSizeMsg{Width: 50, Height: 12})
	golden(t, "small_50x12", h.m.View())
}

// Every view fits every size exactly.
func TestResize(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "trap"})
	h.boot()
	all := append(append([]vmm.Event(nil), fxBoot...), vmm.Event{Cause: "priv/cli", Mech: vmm.MechTrap, PC: fxLoop})
	h.send(withCounts(fxUpdate(h.m.gen, -1, fxLoop+1, 4580, all...), all))
	h.do(h.key("v"))
	h.key("esc")
	for _, view := range []string{"", "t", "v", "?", "g"} {
		if view != "" {
			h.key(view)
		}
		for _, sz := range [][2]int{{80, 24}, {100, 30}, {60, 16}, {132, 43}, {200, 60}, {81, 25}} {
			h.send(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			checkFrame(t, h.m.View(), sz[0], sz[1])
		}
		h.key("esc")
	}
}

func TestKeys(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "trap"})
	h.boot()
	e := h.engine()
	if e.spec.Strategy.Name != "trap" || e.spec.Config.Args != "n=4000" || !e.spec.Config.Count {
		t.Errorf("session spec %+v", e.spec)
	}

	h.key("s")
	if h.m.state != runBusy || !strings.Contains(h.m.View(), "stepping…") {
		t.Errorf("s: state %v", h.m.state)
	}
	h.send(fxUpdate(h.m.gen, ctlStep, fxMain+5, 1))
	if h.m.state != runPaused {
		t.Errorf("after the step: state %v", h.m.state)
	}

	// c continues, c again pauses
	h.key("c")
	if e.sent[len(e.sent)-1] != ctlContinue || h.m.state != runRunning {
		t.Errorf("c: sent %v, state %v", e.sent, h.m.state)
	}
	u := fxUpdate(h.m.gen, ctlContinue, fxLoop, 1000)
	u.Running = true
	h.send(u)
	if h.m.state != runRunning {
		t.Fatalf("running update: state %v", h.m.state)
	}
	h.key("c")
	if e.sent[len(e.sent)-1] != ctlPause || !strings.Contains(h.m.View(), "pausing") {
		t.Errorf("c while running: sent %v", e.sent)
	}
	h.send(fxUpdate(h.m.gen, ctlPause, fxLoop, 1000))
	if h.m.state != runPaused {
		t.Errorf("after pause: state %v", h.m.state)
	}

	// tab: the next strategy that can run (bt and kvm cannot), from the start
	gen := h.m.gen
	h.key("tab")
	if h.m.strat.Name != "native" || !e.closed || len(h.engines) != 2 || h.m.gen != gen+1 {
		t.Fatalf("tab: strategy %s, old closed %v, engines %d", h.m.strat.Name, e.closed, len(h.engines))
	}
	frame := h.m.View()
	if !strings.Contains(frame, "skipped bt (not built yet), kvm (/dev/kvm: no such file or directory)") || !strings.Contains(frame, "booting") {
		t.Errorf("tab frame:\n%s", frame)
	}
	// a late answer from the abandoned session is ignored
	h.send(fxUpdate(gen, ctlStep, 0x4242, 7))
	if h.m.hasSnap {
		t.Errorf("stale update applied")
	}
	h.key("shift+tab")
	if h.m.strat.Name != "trap" {
		t.Errorf("shift+tab: %s", h.m.strat.Name)
	}

	// r restarts under the same strategy
	h.boot()
	h.key("r")
	if h.m.strat.Name != "trap" || len(h.engines) != 4 || h.m.events.total != 0 || h.m.state != runBooting {
		t.Errorf("r: strategy %s engines %d", h.m.strat.Name, len(h.engines))
	}

	// ? opens help and closes it
	h.key("?")
	if h.m.view != viewHelp {
		t.Fatalf("? did not open help")
	}
	frame = h.m.View()
	for _, want := range []string{"An exit is a transfer of control", "strategies", "kvm     unavailable: /dev/kvm", "n next exit"} {
		if !strings.Contains(frame, want) && !strings.Contains(strings.Join(h.m.helpView(200, 200), "\n"), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	h.key("?")
	if h.m.view != viewMain {
		t.Errorf("? again: view %v", h.m.view)
	}

	// q quits and closes the session
	cmd := h.key("q")
	if cmd == nil || cmd() != tea.Quit() || !h.engine().closed {
		t.Errorf("q did not quit")
	}
}

func TestPicker(t *testing.T) {
	h := newHarness(t, Options{})
	if h.m.view != viewPicker || len(h.engines) != 0 {
		t.Fatalf("without a guest the picker opens first: view %v", h.m.view)
	}
	frame := h.m.View()
	if !strings.Contains(frame, "pick a guest to run under trap") || !strings.Contains(frame, "compute") ||
		!strings.HasPrefix(frame, " virtsim │ trap │ choose a guest") {
		t.Errorf("picker frame:\n%s", frame)
	}
	// tab changes the strategy the guest will run under
	h.key("tab")
	h.key("shift+tab")
	// choose irq-toggle
	for i := 0; i < 20; i++ {
		if it, ok := h.m.picker.SelectedItem().(workloadItem); ok && it.w.Name == "irq-toggle" {
			break
		}
		h.key("j")
	}
	h.key("enter")
	if h.m.view != viewMain || len(h.engines) != 1 || h.engine().spec.Config.Name != "irq-toggle" || h.engine().spec.Strategy.Name != "trap" {
		t.Fatalf("enter: view %v, engines %d", h.m.view, len(h.engines))
	}
	// g goes back to the picker, esc returns
	h.key("g")
	if h.m.view != viewPicker {
		t.Errorf("g: view %v", h.m.view)
	}
	h.key("esc")
	if h.m.view != viewMain {
		t.Errorf("esc: view %v", h.m.view)
	}
}

func TestBootFailure(t *testing.T) {
	h := newHarness(t, Options{Guest: "irq-toggle", Strategy: "trap"})
	h.send(bootedMsg{gen: h.m.gen, Err: errFake})
	frame := h.m.View()
	if h.m.state != runFailed || !strings.Contains(frame, "error: fake boot failure") {
		t.Errorf("boot failure frame:\n%s", frame)
	}
	h.key("s")
	if !strings.Contains(h.m.View(), "nothing to run") {
		t.Errorf("s after a failure gives no hint")
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Guest: "nope"}, "nope"},
		{Options{Strategy: "nope"}, `unknown strategy "nope" (have: native, trap, bt, kvm)`},
		{Options{Strategy: "kvm"}, "strategy not available: kvm: /dev/kvm"},
	} {
		_, err := newModel(tc.opts, deps{strategies: fakeStrategies()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.opts, err, tc.want)
		}
	}
}
