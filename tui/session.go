package tui

import (
	"strings"

	"fmt"
	"time"
	"virtsim/migrate"
	"virtsim/vmstate"

	tea "github.com/charmbracelet/bubbletea"

	"virtsim/guest"
	"virtsim/vmm"
)

// The guest runs in its own goroutine, the session's, which alone touches
// the vmm.Instance (it is not goroutine-safe). The UI sends it controls on a
// buffered channel and receives updateMsgs on another, through a tea.Cmd
// that waits for the next one; every update carries a Snapshot, so the UI
// never reads the instance and never blocks on the guest.

// control is a request from the UI to the guest goroutine.
type control int

const (
	ctlStep     control = iota // execute one guest instruction
	ctlNext                    // run to the next exit
	ctlContinue                // run in slices until paused or stopped
	ctlPause                   // stop continuing
	ctlTransOn                 // include the translation at the PC in snapshots
	ctlTransOff                // stop including it
	ctlSave                    // save the paused VM (vmstate) to the session's save folder
	ctlRestore                 // replace the VM with the one saved there, under the current strategy
	ctlMove                    // move the paused VM to the next strategy that can take it
)

// Snapshot is everything the UI shows of a paused (or briefly sliced)
// instance, copied out on the guest goroutine.
type Snapshot struct {
	// HasCPU is false when the instance does not implement vmm.Inspector.
	HasCPU bool
	Real   vmm.CPUState
	// Virtual is the guest's view of its privileged state when the strategy
	// keeps one (HasVirtual); otherwise the real state is the guest's.
	Virtual    vmm.CPUState
	HasVirtual bool
	// PC is the guest's EIP (the virtual one where there is one).
	PC uint32
	// Code holds guest memory from CodeBase, a window around PC for the
	// disassembly (empty if unreadable).
	CodeBase uint32
	Code     []byte

	Stop         vmm.Stop
	Counts       vmm.Counts
	Exits        uint64
	Events       uint64 // events so far (Counts.Total())
	Instructions uint64
	Serial       string
	Notes        []string
	Counters     map[string]uint64

	// Trans is the translation of the block at PC, when the UI asked for
	// it (the translation view is open); nil otherwise.
	Trans *Translation

	// Paging is the guest's page tables beside the real ones, for the
	// pages at EIP, ESP and CR2 and the first others the guest maps
	// (HasPaging: the strategy can show it).
	Paging    vmm.PagingView
	HasPaging bool

	// Disk is the disks' state (ATA drive, ring indices) once the guest
	// has used one (HasDisk).
	Disk    vmm.DiskState
	HasDisk bool
}

// updateMsg is what the guest goroutine sends after every step, run to an
// exit, slice of a continue, or pause.
type updateMsg struct {
	gen int
	// Events are the events recorded since the previous update, oldest
	// first: the last maxBatchEvents of them; Dropped counts the rest.
	Events  []vmm.Event
	Dropped int
	Snap    Snapshot
	// Running is true while the guest continues (more updates will come
	// without a request).
	Running bool
	// Done names the request this update answers (ctlStep, ctlNext,
	// ctlPause, ...); -1 for a slice of a continue or the boot snapshot.
	Done control
	Err  error
	// Took is how long the guest ran for this update.
	Took time.Duration
	// Strategy names the strategy the VM runs under now (a move or a
	// restore may change it); Note says what a save, restore or move did.
	Strategy string
	Note     string
}

// bootedMsg reports that the instance exists (or could not be created).
type bootedMsg struct {
	gen int
	Err error
}

// engine is the UI's handle on a guest goroutine. Tests substitute fakes.
type engine interface {
	// Send queues a control; it never blocks (false if the queue is full).
	Send(control) bool
	// Wait is a tea.Cmd that delivers the goroutine's next message.
	Wait() tea.Cmd
	// Close abandons the session: the goroutine closes the instance after
	// the call it is in, if any, returns.
	Close()
}

// sessionSpec is what a session runs.
type sessionSpec struct {
	Gen      int
	Strategy *vmm.Strategy
	Image    *guest.Image
	Config   vmm.Config
	// SaveDir is where the save and restore keys keep the VM
	// (default virtsim-save in the working directory).
	SaveDir string
}

// startFunc starts a session; the model calls it (tests replace it).
type startFunc func(spec sessionSpec) engine

const (
	maxBatchEvents = 256                   // events per update
	sliceTime      = 40 * time.Millisecond // a continue slice
	codeBefore     = 64                    // bytes of code read before the PC
	codeAfter      = 128                   // and from the PC on
)

type session struct {
	gen  int
	ctl  chan control
	out  chan tea.Msg
	done chan struct{}
}

// startSession boots the guest on a new goroutine.
func startSession(spec sessionSpec) engine {
	s := &session{gen: spec.Gen, ctl: make(chan control, 64), out: make(chan tea.Msg), done: make(chan struct{})}
	go s.loop(spec)
	return s
}

func (s *session) Send(c control) bool {
	select {
	case s.ctl <- c:
		return true
	default:
		return false
	}
}

func (s *session) Wait() tea.Cmd {
	out, done := s.out, s.done
	return func() tea.Msg {
		select {
		case m := <-out:
			return m
		case <-done:
			return nil
		}
	}
}

func (s *session) Close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// send delivers a message unless the UI has abandoned the session.
func (s *session) send(m tea.Msg) bool {
	select {
	case s.out <- m:
		return true
	case <-s.done:
		return false
	}
}

// loop is the guest goroutine.
func (s *session) loop(spec sessionSpec) {
	var pending []vmm.Event
	total := 0
	cfg := spec.Config
	cfg.OnEvent = func(e vmm.Event) {
		total++
		pending = append(pending, e)
		if len(pending) > 2*maxBatchEvents {
			pending = append(pending[:0], pending[len(pending)-maxBatchEvents:]...)
		}
	}
	inst, err := newInstance(spec.Strategy, spec.Image, cfg)
	if err != nil {
		s.send(bootedMsg{gen: s.gen, Err: err})
		return
	}
	defer inst.Close()
	if !s.send(bootedMsg{gen: s.gen}) {
		return
	}
	trans := false
	running := false
	sent := 0
	pendingNote, strategy := "", spec.Strategy.Name
	update := func(done control, took time.Duration, err error) bool {
		u := updateMsg{gen: s.gen, Running: running, Done: done, Err: err, Took: took, Strategy: strategy, Note: pendingNote}
		pendingNote = ""
		u.Dropped = total - sent - len(pending)
		if len(pending) > maxBatchEvents {
			u.Dropped += len(pending) - maxBatchEvents
			pending = pending[len(pending)-maxBatchEvents:]
		}
		u.Events = append([]vmm.Event(nil), pending...)
		pending = pending[:0]
		sent = total
		u.Snap = takeSnapshot(inst, trans)
		return s.send(u)
	}
	if !update(-1, 0, nil) {
		return
	}
	stopped := func() bool { return inst.Result().Stop.Kind != vmm.StopNone }
	handle := func(c control) bool {
		switch c {
		case ctlStep, ctlNext:
			running = false
			t0 := time.Now()
			var err error
			if c == ctlStep {
				_, err = inst.Step()
			} else {
				_, err = inst.RunToExit()
			}
			return update(c, time.Since(t0), err)
		case ctlContinue:
			running = !stopped()
			return update(c, 0, nil)
		case ctlPause:
			running = false
			return update(c, 0, nil)
		case ctlTransOn, ctlTransOff:
			trans = c == ctlTransOn
			return update(c, 0, nil)
		case ctlSave, ctlRestore, ctlMove:
			running = false
			next, note, err := whole(c, inst, spec, cfg)
			if next != nil {
				inst.Close()
				inst = next
				strat, _ := vmm.LookupStrategy(inst.Result().Strategy)
				if strat != nil {
					spec.Strategy = strat
				}
			}
			pendingNote, strategy = note, spec.Strategy.Name
			return update(c, 0, err)
		}
		return true
	}
	for {
		if !running {
			select {
			case c := <-s.ctl:
				if !handle(c) {
					return
				}
			case <-s.done:
				return
			}
			continue
		}
		select {
		case c := <-s.ctl:
			if !handle(c) {
				return
			}
			continue
		case <-s.done:
			return
		default:
		}
		// One slice: runs to exits until the slice time is up. Where the
		// instance can be interrupted, a timer ends the slice even if the
		// guest makes no exit at all; otherwise such a guest holds the
		// goroutine (never the UI) until its budget stops it.
		t0 := time.Now()
		var err error
		var kick *time.Timer
		if in, ok := inst.(vmm.Interrupter); ok {
			kick = time.AfterFunc(sliceTime, in.Interrupt)
		}
		for time.Since(t0) < sliceTime {
			var st vmm.Stop
			if st, err = inst.RunToExit(); err != nil || st.Kind != vmm.StopNone {
				running = false
				break
			}
		}
		if kick != nil {
			kick.Stop()
		}
		if !update(-1, time.Since(t0), err) {
			return
		}
	}
}

// moveOrder is the order the move key walks: the strategies that run the
// native build of a kernel on the same machine model (a paravirtual guest
// can only move to pv, which it already runs under).
var moveOrder = []string{"native", "trap", "bt"}

// whole does what the save, restore and move keys ask of the paused VM:
// the VM as a file (vmstate) and back, under the same or the next
// strategy. It returns the instance that replaces inst (nil: none).
func whole(c control, inst vmm.Instance, spec sessionSpec, cfg vmm.Config) (vmm.Instance, string, error) {
	dir := spec.SaveDir
	if dir == "" {
		dir = "virtsim-save"
	}
	save := func() (*vmstate.State, error) {
		sn, ok := inst.(vmm.Snapshotter)
		if !ok {
			return nil, fmt.Errorf("%s cannot save a VM", spec.Strategy.Name)
		}
		if inst.Result().Stop.Kind != vmm.StopNone {
			return nil, fmt.Errorf("the guest has stopped: nothing to save")
		}
		return sn.SaveState()
	}
	into := func(s *vmm.Strategy, st *vmstate.State) (vmm.Instance, error) {
		img, err := migrate.ImageFor(st)
		if err != nil {
			img = spec.Image // a kernel of the user's own (--image)
		}
		return migrate.Restore(s, img, cfg, st)
	}
	switch c {
	case ctlSave:
		st, err := save()
		if err != nil {
			return nil, "", err
		}
		if err := vmstate.Save(dir, st); err != nil {
			return nil, "", err
		}
		return nil, fmt.Sprintf("saved at instruction %d to %s (virtsim restore %s continues it; o restores it here)", st.Instructions, dir, dir), nil
	case ctlRestore:
		st, err := vmstate.Load(dir)
		if err != nil {
			return nil, "", err
		}
		next, err := into(spec.Strategy, st)
		if err != nil {
			return nil, "", err
		}
		return next, fmt.Sprintf("restored %s (saved under %s at instruction %d) under %s", dir, st.Strategy, st.Instructions, spec.Strategy.Name), nil
	}
	st, err := save()
	if err != nil {
		return nil, "", err
	}
	from := spec.Strategy.Name
	var tried []string
	for i := range moveOrder {
		if moveOrder[i] != from {
			continue
		}
		for j := 1; j < len(moveOrder); j++ {
			name := moveOrder[(i+j)%len(moveOrder)]
			s, err := vmm.LookupStrategy(name)
			if err != nil {
				continue
			}
			next, err := into(s, st)
			if err != nil {
				tried = append(tried, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			return next, fmt.Sprintf("moved from %s to %s at instruction %d: the same guest state, the VMM's caches rebuilt", from, name, st.Instructions), nil
		}
	}
	if len(tried) == 0 {
		return nil, "", fmt.Errorf("a VM under %s cannot move to another strategy here (moves go native -> trap -> bt -> native)", from)
	}
	return nil, "", fmt.Errorf("no strategy took the VM: %s", strings.Join(tried, "; "))
}

// newInstance creates the instance, turning a panic in a strategy's
// constructor into an error (a strategy under construction must not take
// the terminal down with it).
func newInstance(s *vmm.Strategy, img *guest.Image, cfg vmm.Config) (inst vmm.Instance, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("strategy %s panicked: %v", s.Name, r)
		}
	}()
	return s.New(img, cfg)
}

// pagingRows is how many other mapped pages the paging view lists.
const pagingRows = 48

// takeSnapshot copies what the UI shows out of the instance.
func takeSnapshot(inst vmm.Instance, trans bool) Snapshot {
	res := inst.Result()
	snap := Snapshot{
		Stop: res.Stop, Counts: res.Counts.Clone(), Exits: res.Exits, Events: res.Counts.Total(),
		Instructions: res.Instructions, Serial: res.Serial,
		Notes: append([]string(nil), res.Notes...), PC: res.Stop.PC,
	}
	if len(res.Counters) > 0 {
		snap.Counters = make(map[string]uint64, len(res.Counters))
		for k, v := range res.Counters {
			snap.Counters[k] = v
		}
	}
	if insp, ok := inst.(vmm.Inspector); ok {
		snap.HasCPU = true
		snap.Real = insp.Real()
		snap.PC = snap.Real.EIP
		if v, ok := insp.Virtual(); ok {
			snap.Virtual, snap.HasVirtual = v, true
			snap.PC = v.EIP
		}
		snap.CodeBase, snap.Code = readWindow(insp, snap.PC)
	}
	if trans {
		snap.Trans = translationAt(inst, snap.PC)
	}
	if pv, ok := inst.(interface {
		Paging(lins []uint32, max int) vmm.PagingView
	}); ok {
		st := snap.Real
		if snap.HasVirtual {
			st = snap.Virtual
		}
		snap.Paging = pv.Paging([]uint32{snap.PC, st.GPR[4], st.CR2}, pagingRows)
		snap.HasPaging = true
	}
	if di, ok := inst.(vmm.DiskInspector); ok {
		snap.Disk = di.DiskState()
		snap.HasDisk = snap.Disk.Used()
	}
	return snap
}

// readWindow reads the code around pc, shrinking the window at the edges
// of guest memory.
func readWindow(insp vmm.Inspector, pc uint32) (uint32, []byte) {
	before := uint32(codeBefore)
	if pc < before {
		before = pc
	}
	for _, b := range []uint32{before, before / 2, 0} {
		for _, a := range []uint32{codeAfter, codeAfter / 2, 16, 1} {
			buf := make([]byte, b+a)
			if insp.ReadMem(pc-b, buf) == nil {
				return pc - b, buf
			}
		}
	}
	return pc, nil
}
