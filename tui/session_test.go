package tui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"virtsim/guest"
	_ "virtsim/translate"
	_ "virtsim/trap"
	"virtsim/vmm"
)

// recv waits for the session's next message.
func recv(t *testing.T, e engine) tea.Msg {
	t.Helper()
	ch := make(chan tea.Msg, 1)
	go func() { ch <- e.Wait()() }()
	select {
	case m := <-ch:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message from the guest goroutine in 20 s")
	}
	return nil
}

// workloadImage looks up a catalogue workload and loads its image.
func workloadImage(t *testing.T, name string) (guest.Workload, *guest.Image) {
	t.Helper()
	w, err := guest.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	img, err := w.Load(vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	return w, img
}

// strategy looks up a registered strategy.
func strategy(t *testing.T, name string) *vmm.Strategy {
	t.Helper()
	s, err := vmm.LookupStrategy(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startIrqToggle(t *testing.T, strategyName string) engine {
	t.Helper()
	w, img := workloadImage(t, "irq-toggle")
	s := strategy(t, strategyName)
	e := startSession(sessionSpec{Gen: 1, Strategy: s, Image: img,
		Config: vmm.Config{Name: w.Name, Args: "n=3", Count: true, TimeBudget: time.Hour}})
	t.Cleanup(e.Close)
	if b, ok := recv(t, e).(bootedMsg); !ok || b.Err != nil {
		t.Fatalf("boot: %+v", b)
	}
	if u, ok := recv(t, e).(updateMsg); !ok || u.Snap.PC == 0 {
		t.Fatalf("first update: %+v", u)
	}
	return e
}

// TestSessionTrap drives the guest goroutine directly: steps, runs to
// exits until the cli/sti loop, and checks the snapshots it sends.
func TestSessionTrap(t *testing.T) {
	e := startIrqToggle(t, "trap")
	e.Send(ctlStep)
	u := recv(t, e).(updateMsg)
	if u.Done != ctlStep || u.Snap.Instructions != 1 {
		t.Fatalf("after one step: done=%v instructions=%d", u.Done, u.Snap.Instructions)
	}
	var causes []string
	for i := 0; i < 20; i++ {
		e.Send(ctlNext)
		u = recv(t, e).(updateMsg)
		if len(u.Events) != 1 {
			t.Fatalf("a run to the next exit under trap brought %d events: %v", len(u.Events), u.Events)
		}
		ev := u.Events[0]
		causes = append(causes, ev.Cause)
		if ev.Cause == "priv/cli" {
			if !u.Snap.HasVirtual || u.Snap.Virtual.IF() || u.Snap.Virtual.CPL != 0 || u.Snap.Real.CPL != 1 {
				t.Errorf("after cli: virtual IF=%v CPL=%d, real CPL=%d", u.Snap.Virtual.IF(), u.Snap.Virtual.CPL, u.Snap.Real.CPL)
			}
			lines, cur := disassemble(u.Snap.CodeBase, u.Snap.Code, u.Snap.PC, guestImage(t))
			if cur < 0 || lines[cur].Text != "sti" || lines[cur].Cause != "priv/sti" {
				t.Errorf("after cli the next instruction should be sti: %+v", lines)
			}
			break
		}
	}
	if causes[len(causes)-1] != "priv/cli" {
		t.Fatalf("no priv/cli in the first exits: %v", causes)
	}
	// continue to the end
	e.Send(ctlContinue)
	for {
		u = recv(t, e).(updateMsg)
		if u.Snap.Stop.Kind != vmm.StopNone {
			break
		}
	}
	if u.Snap.Stop.Kind != vmm.StopExit || u.Snap.Stop.Status != 0 || u.Running {
		t.Fatalf("continue: %v running=%v", u.Snap.Stop, u.Running)
	}
	if got := u.Snap.Serial; got != "irq-toggle: n=3 pairs=3\n" {
		t.Errorf("serial = %q", got)
	}
}

func guestImage(t *testing.T) *guest.Image {
	w, _ := guest.Lookup("irq-toggle")
	img, err := w.Load(vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestSessionPauseAndTranslation: a long continue pauses at the next slice
// boundary with the guest still runnable; under trap the translation view
// learns that nothing is translated.
func TestSessionPauseAndTranslation(t *testing.T) {
	w, _ := guest.Lookup("irq-toggle")
	img, err := w.Load(vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := vmm.LookupStrategy("trap")
	e := startSession(sessionSpec{Gen: 7, Strategy: s, Image: img,
		Config: vmm.Config{Name: w.Name, Args: "n=100000000", Count: true, TimeBudget: time.Hour}})
	t.Cleanup(e.Close)
	recv(t, e) // booted
	recv(t, e) // first snapshot
	e.Send(ctlContinue)
	u := recv(t, e).(updateMsg)
	if !u.Running || u.Done != ctlContinue || u.gen != 7 {
		t.Fatalf("continue: running=%v done=%v gen=%d", u.Running, u.Done, u.gen)
	}
	u = recv(t, e).(updateMsg) // a slice
	if !u.Running || len(u.Events) == 0 {
		t.Fatalf("slice: running=%v events=%d", u.Running, len(u.Events))
	}
	if len(u.Events) > maxBatchEvents {
		t.Errorf("a batch carries %d events, more than %d", len(u.Events), maxBatchEvents)
	}
	e.Send(ctlPause)
	for u.Done != ctlPause {
		u = recv(t, e).(updateMsg)
	}
	if u.Running || u.Snap.Stop.Kind != vmm.StopNone {
		t.Fatalf("after pause: running=%v stop=%v", u.Running, u.Snap.Stop)
	}
	paused := u.Snap.Events
	e.Send(ctlTransOn)
	u = recv(t, e).(updateMsg)
	if u.Snap.Trans == nil || u.Snap.Trans.Supported || u.Snap.Events != paused {
		t.Fatalf("translation under trap: %+v (events %d, paused at %d)", u.Snap.Trans, u.Snap.Events, paused)
	}
	e.Send(ctlTransOff)
	if u = recv(t, e).(updateMsg); u.Snap.Trans != nil {
		t.Errorf("translation still sent after ctlTransOff")
	}
}

// slowInst is an instance whose runs to an exit take a while, like a guest
// that computes for long without exiting.
type slowInst struct {
	delay  time.Duration
	runs   int
	closed chan struct{}
}

func (s *slowInst) Run() (vmm.Stop, error) { return s.RunToExit() }
func (s *slowInst) RunToExit() (vmm.Stop, error) {
	time.Sleep(s.delay)
	s.runs++
	return vmm.Stop{}, nil
}
func (s *slowInst) Step() (vmm.Stop, error) { return vmm.Stop{}, nil }
func (s *slowInst) Result() *vmm.Result {
	return &vmm.Result{Counts: vmm.Counts{}, Instructions: uint64(s.runs)}
}
func (s *slowInst) Close() error { close(s.closed); return nil }

// A guest busy in a long run holds only its own goroutine: abandoning the
// session returns at once, and the goroutine closes the instance when the
// run ends. No Inspector: the snapshot says so instead of failing.
func TestSessionAbandonWhileBusy(t *testing.T) {
	inst := &slowInst{delay: 300 * time.Millisecond, closed: make(chan struct{})}
	s := &vmm.Strategy{Name: "slow", New: func(*guest.Image, vmm.Config) (vmm.Instance, error) { return inst, nil }}
	e := startSession(sessionSpec{Gen: 1, Strategy: s, Image: &guest.Image{}})
	recv(t, e)
	if u := recv(t, e).(updateMsg); u.Snap.HasCPU {
		t.Errorf("an instance without Inspector has a CPU snapshot")
	}
	e.Send(ctlNext)
	time.Sleep(50 * time.Millisecond) // the run is under way
	t0 := time.Now()
	e.Close()
	if d := time.Since(t0); d > 10*time.Millisecond {
		t.Errorf("Close blocked for %v", d)
	}
	if msg := e.Wait()(); msg != nil {
		t.Errorf("Wait after Close delivered %T", msg)
	}
	select {
	case <-inst.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the instance was not closed after its run ended")
	}
}

// A strategy whose constructor panics reports an error instead of taking
// the terminal down.
func TestSessionBootPanic(t *testing.T) {
	s := &vmm.Strategy{Name: "wip", New: func(*guest.Image, vmm.Config) (vmm.Instance, error) { panic("half built") }}
	e := startSession(sessionSpec{Gen: 1, Strategy: s, Image: &guest.Image{}})
	defer e.Close()
	b, ok := recv(t, e).(bootedMsg)
	if !ok || b.Err == nil || !strings.Contains(b.Err.Error(), "strategy wip panicked: half built") {
		t.Errorf("boot of a panicking strategy: %+v", b)
	}
}

// TestSessionSaveRestoreMove: the save, restore and move keys' work on the
// guest goroutine. A paused guest moves trap -> bt -> native -> trap, is
// saved, runs on, is restored to the save, and runs to the end with the
// uninterrupted run's output; a failure (a stopped guest) leaves the VM as
// it was.
func TestSessionSaveRestoreMove(t *testing.T) {
	w, img := workloadImage(t, "syscall")
	ref, err := vmm.RunGuest(strategy(t, "native"), img, vmm.Config{Name: w.Name, Args: "n=40"}.WithDefaults(), false)
	if err != nil {
		t.Fatal(err)
	}
	s := strategy(t, "trap")
	dir := t.TempDir()
	e := startSession(sessionSpec{Gen: 1, Strategy: s, Image: img, SaveDir: dir,
		Config: vmm.Config{Name: w.Name, Args: "n=40", Count: true, TimeBudget: time.Hour}})
	t.Cleanup(e.Close)
	if b, ok := recv(t, e).(bootedMsg); !ok || b.Err != nil {
		t.Fatalf("boot: %+v", b)
	}
	recv(t, e)
	next := func(n int) updateMsg {
		var u updateMsg
		for i := 0; i < n; i++ {
			e.Send(ctlNext)
			u = recv(t, e).(updateMsg)
		}
		return u
	}
	next(30)
	for _, want := range []string{"bt", "native", "trap"} {
		e.Send(ctlMove)
		u := recv(t, e).(updateMsg)
		if u.Err != nil || u.Strategy != want || !strings.Contains(u.Note, "moved") {
			t.Fatalf("move: err %v, now under %q (want %s), note %q", u.Err, u.Strategy, want, u.Note)
		}
		next(20)
	}
	e.Send(ctlSave)
	u := recv(t, e).(updateMsg)
	if u.Err != nil || !strings.Contains(u.Note, "saved at instruction") {
		t.Fatalf("save: %v %q", u.Err, u.Note)
	}
	saved := u.Snap.Instructions
	next(40)
	e.Send(ctlRestore)
	u = recv(t, e).(updateMsg)
	if u.Err != nil || u.Strategy != "trap" || u.Snap.Instructions != saved {
		t.Fatalf("restore: err %v, under %s, at instruction %d (saved at %d)", u.Err, u.Strategy, u.Snap.Instructions, saved)
	}
	for i := 0; i < 10000 && u.Snap.Stop.Kind == vmm.StopNone; i++ {
		u = next(1)
	}
	if u.Snap.Stop.Kind != vmm.StopExit || u.Snap.Serial != ref.Serial {
		t.Fatalf("after the moves and the restore: %s\n%q\nuninterrupted:\n%q", u.Snap.Stop, u.Snap.Serial, ref.Serial)
	}
	e.Send(ctlSave)
	if u = recv(t, e).(updateMsg); u.Err == nil {
		t.Errorf("saving a stopped guest succeeded")
	}
}
