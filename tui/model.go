package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/list"
	tea "github.com/charmbracelet/bubbletea"

	"virtsim/guest"
	"virtsim/vmm"
)

// Options say what the UI opens on.
type Options struct {
	// Guest is the workload to open; "" opens the guest picker.
	Guest string
	// Image, if set, is a workload from an image file (virtsim tui
	// --image): it opens instead of Guest and joins the picker.
	Image *guest.Workload
	// Strategy is the strategy to start with; "" means trap when it is
	// available, else the first available one.
	Strategy string
	// Args is the guest's command line; "" means the workload's default.
	// It applies to Guest only: a guest picked later gets its default.
	Args string
	// MemSize is guest RAM (0 = vmm.DefaultMemSize).
	MemSize uint32
	// InsnBudget stops a runaway guest (0 = vmm.DefaultInsnBudget).
	InsnBudget uint64
	// ClassicIF runs trap with the real IF kept set (vmm.Config.ClassicIF).
	ClassicIF bool
}

// ErrUnavailable wraps the reason a requested strategy cannot run here.
var ErrUnavailable = errors.New("strategy not available")

// viewState is which screen the UI shows.
type viewState int

const (
	viewMain    viewState = iota // code, CPU, events, counts, serial
	viewPicker                   // the guest picker
	viewTrans                    // the translation of the block at the PC
	viewCompare                  // every strategy's counts side by side
	viewPages                    // the guest's page tables beside the real (shadow) ones
	viewHelp                     // keys, panes and the vocabulary
)

// runState is where the guest is.
type runState int

const (
	runNone    runState = iota // no guest chosen yet
	runBooting                 // the instance is being created
	runPaused                  // waiting for a key
	runBusy                    // a step or a run to the next exit is under way
	runRunning                 // continuing, in slices
	runStopped                 // the guest stopped: exit, crash, budget, halt
	runFailed                  // the strategy or the UI's session failed
)

// target is the guest being run.
type target struct {
	w    guest.Workload
	args string
}

func (t *target) key() string { return t.w.Name + " " + t.args }

func (t *target) label() string {
	if t.args == "" {
		return t.w.Name
	}
	return t.w.Name + " " + t.args
}

// image loads the build of the guest that strategy s runs.
func (t *target) image(s *vmm.Strategy, mem uint32) (*guest.Image, error) {
	if mem == 0 {
		mem = vmm.DefaultMemSize
	}
	if s.PV {
		if len(t.w.PVImage) == 0 {
			return nil, fmt.Errorf("%s has no paravirtual build", t.w.Name)
		}
		// LoadPV attaches the workload's disk, as Load does (disk and
		// streaming under pv once booted without one)
		return t.w.LoadPV(mem)
	}
	return t.w.Load(mem)
}

// Model is the top-level bubbletea model: a state machine over the views
// and the guest's run state, holding one sub-model per pane.
type Model struct {
	opts Options
	keys keyMap
	help help.Model
	w, h int

	view, back viewState
	strategies []*vmm.Strategy
	target     *target
	strat      *vmm.Strategy
	img        *guest.Image // the running session's image (symbols)

	start startFunc
	run   runFunc

	eng     engine
	gen     int
	state   runState
	pending int  // steps and runs to an exit requested, not yet answered
	pausing bool // a pause was requested while running
	lastReq control
	snap    Snapshot
	hasSnap bool
	err     error
	flash   string

	code    codePane
	cpu     cpuPane
	events  eventLog
	counts  countsPane
	serial  serialPane
	picker  list.Model
	compare compareModel
	scroll  int // help view
}

// New makes the model for opts. It reports an unknown guest or strategy,
// and a strategy that cannot run here (wrapping ErrUnavailable). Nothing
// runs until the program starts it (Init).
func New(opts Options) (*Model, error) {
	return newModel(opts, deps{})
}

// deps are what tests replace: how sessions start, how the compare view
// runs a guest, and the strategies (nil: vmm.Strategies()).
type deps struct {
	start      startFunc
	run        runFunc
	strategies []*vmm.Strategy
}

func newModel(opts Options, d deps) (*Model, error) {
	if d.start == nil {
		d.start = startSession
	}
	if d.run == nil {
		d.run = runToCompletion
	}
	if d.strategies == nil {
		d.strategies = vmm.Strategies()
	}
	m := &Model{
		opts: opts, keys: newKeyMap(), help: help.New(),
		strategies: d.strategies, start: d.start, run: d.run,
		w: 80, h: 24,
	}
	m.help.Width = 80
	ws := guest.Catalog()
	if opts.Image != nil {
		ws = append(ws, *opts.Image)
		opts.Guest = opts.Image.Name
	}
	m.picker = newPicker(ws)
	if opts.Guest != "" {
		w, err := guest.Lookup(opts.Guest)
		if opts.Image != nil {
			w, err = *opts.Image, nil
		}
		if err != nil {
			return nil, err
		}
		args := opts.Args
		if args == "" {
			args = w.DefaultArgs
		}
		m.target = &target{w: w, args: args}
		selectWorkload(&m.picker, w.Name)
	}
	if opts.Strategy != "" {
		s := m.lookup(opts.Strategy)
		if s == nil {
			var names []string
			for _, s := range m.strategies {
				names = append(names, s.Name)
			}
			return nil, fmt.Errorf("unknown strategy %q (have: %s)", opts.Strategy, strings.Join(names, ", "))
		}
		if err := m.usable(s); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, s.Name, err)
		}
		m.strat = s
	} else {
		for _, s := range m.strategies {
			if m.usable(s) == nil && (m.strat == nil || s.Name == "trap") {
				m.strat = s
			}
		}
		if m.strat == nil {
			return nil, fmt.Errorf("%w: no strategy can run here", ErrUnavailable)
		}
	}
	if m.target == nil {
		m.view = viewPicker
	}
	m.setPickerTitle()
	return m, nil
}

func (m *Model) lookup(name string) *vmm.Strategy {
	for _, s := range m.strategies {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Init starts the guest when the UI opens on one.
func (m *Model) Init() tea.Cmd {
	if m.target != nil {
		return m.restart()
	}
	return nil
}

// usable reports why strategy s cannot run the current guest here, if it
// cannot.
func (m *Model) usable(s *vmm.Strategy) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("availability check panicked: %v", r)
		}
	}()
	if s.New == nil {
		return errors.New("not implemented")
	}
	if s.Available != nil {
		if err := s.Available(); err != nil {
			return err
		}
	}
	if s.PV && m.target != nil && len(m.target.w.PVImage) == 0 {
		return fmt.Errorf("%s has no paravirtual build", m.target.w.Name)
	}
	return nil
}

// config is the run configuration of the current guest. A session can sit
// paused for as long as a student reads, so its time budget (which counts
// wall time from the first run) is a day; the instruction budget still
// stops a runaway guest.
func (m *Model) config(compare bool) vmm.Config {
	cfg := vmm.Config{
		Name: m.target.w.Name, Args: m.target.args, MemSize: m.opts.MemSize,
		Count: true, InsnBudget: m.opts.InsnBudget, ClassicIF: m.opts.ClassicIF,
	}
	if !compare {
		cfg.TimeBudget = 24 * time.Hour
	}
	return cfg
}

// restart (re)boots the current guest under the current strategy.
func (m *Model) restart() tea.Cmd {
	if m.eng != nil {
		m.eng.Close()
		m.eng = nil
	}
	m.gen++
	m.events.reset()
	m.snap, m.hasSnap, m.pending, m.pausing, m.err = Snapshot{}, false, 0, false, nil
	m.code, m.cpu, m.counts, m.serial = codePane{}, cpuPane{}, countsPane{}, serialPane{}
	img, err := m.target.image(m.strat, m.opts.MemSize)
	if err != nil {
		m.state, m.err = runFailed, err
		return nil
	}
	m.img = img
	m.state = runBooting
	m.eng = m.start(sessionSpec{Gen: m.gen, Strategy: m.strat, Image: img, Config: m.config(false)})
	if m.view == viewTrans {
		m.eng.Send(ctlTransOn)
	}
	return m.eng.Wait()
}

// Update is the state machine.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.picker.SetSize(msg.Width, max(1, msg.Height-2))
		return m, nil
	case bootedMsg:
		if msg.gen != m.gen || m.eng == nil {
			return m, nil
		}
		if msg.Err != nil {
			m.state, m.err = runFailed, msg.Err
			return m, nil
		}
		return m, m.eng.Wait()
	case updateMsg:
		if msg.gen != m.gen || m.eng == nil {
			return m, nil
		}
		m.apply(msg)
		return m, m.eng.Wait()
	case compareMsg:
		return m, m.onCompare(msg)
	case tea.KeyMsg:
		return m.onKey(msg)
	}
	if m.view == viewPicker {
		var cmd tea.Cmd
		m.picker, cmd = m.picker.Update(msg)
		return m, cmd
	}
	return m, nil
}

// apply takes in an update from the guest goroutine.
func (m *Model) apply(u updateMsg) {
	// events counted in place come before the run's reported ones (a run
	// to the next exit ends at the exit)
	if m.hasSnap {
		m.events.addCounted(fromCounts(m.snap.Counts, u.Snap.Counts, u.Events, u.Done == ctlStep, m.snap.PC))
	}
	m.events.add(u.Events, u.Dropped)
	m.snap, m.hasSnap = u.Snap, true
	m.code.set(m.img, u.Snap)
	m.cpu.set(u.Snap)
	m.counts.set(u.Snap.Counts)
	m.serial.text = u.Snap.Serial
	if u.Done == ctlStep || u.Done == ctlNext {
		m.pending = max(0, m.pending-1)
	}
	if u.Done == ctlSave || u.Done == ctlRestore || u.Done == ctlMove {
		// A save, restore or move that failed leaves the VM as it was.
		if u.Err != nil {
			m.flash, u.Err = "not done: "+u.Err.Error(), nil
		}
		if u.Note != "" {
			m.flash = u.Note
		}
	}
	if m.strat != nil && u.Strategy != "" && u.Strategy != m.strat.Name {
		if s, err := vmm.LookupStrategy(u.Strategy); err == nil {
			m.strat = s
		}
	}
	switch {
	case u.Err != nil:
		m.state, m.err = runFailed, u.Err
	case u.Snap.Stop.Kind != vmm.StopNone:
		if m.state != runStopped {
			m.flash = "the guest stopped (" + u.Snap.Stop.Kind.String() + "): r runs it again, tab under another strategy, v compares them all"
			if u.Snap.Stop.Kind == vmm.StopExit {
				m.flash = fmt.Sprintf("the guest exited with status %d: r runs it again, tab under another strategy, v compares them all", u.Snap.Stop.Status)
			}
		}
		m.state, m.pending, m.pausing = runStopped, 0, false
	case u.Running:
		m.state = runRunning
	case m.pending > 0:
		m.state = runBusy
	default:
		m.state, m.pausing = runPaused, false
	}
}

func (m *Model) onKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	m.flash = ""
	if m.view == viewPicker {
		return m.pickerKey(k)
	}
	switch {
	case key.Matches(k, m.keys.Quit):
		return m, m.quit()
	case key.Matches(k, m.keys.Help):
		if m.view == viewHelp {
			m.view = m.back
		} else {
			m.back, m.view, m.scroll = m.view, viewHelp, 0
		}
		return m, nil
	case key.Matches(k, m.keys.Back):
		return m, m.leave()
	}
	if m.view == viewHelp || m.view == viewCompare || m.view == viewTrans || m.view == viewPages {
		// the overlay views scroll (scrolled clamps the offset)
		page := max(1, m.h-4)
		switch k.String() {
		case "up", "k":
			m.scroll = max(0, m.scroll-1)
			return m, nil
		case "down", "j":
			m.scroll++
			return m, nil
		case " ", "pgdown":
			m.scroll += page
			return m, nil
		case "pgup":
			m.scroll = max(0, m.scroll-page)
			return m, nil
		}
	}
	switch m.view {
	case viewHelp:
		return m, nil
	case viewTrans:
		if key.Matches(k, m.keys.Translate) {
			return m, m.leave()
		}
	case viewPages:
		if key.Matches(k, m.keys.Pages) {
			return m, m.leave()
		}
	case viewCompare:
		if key.Matches(k, m.keys.Compare) {
			return m, m.leave()
		}
		if key.Matches(k, m.keys.Step, m.keys.Next, m.keys.Continue, m.keys.Restart) {
			m.flash = "esc goes back to the guest"
			return m, nil
		}
	}
	switch {
	case key.Matches(k, m.keys.Guests):
		m.view = viewPicker
		if m.target != nil {
			selectWorkload(&m.picker, m.target.w.Name)
		}
		m.setPickerTitle()
		return m, nil
	case key.Matches(k, m.keys.Compare):
		m.view, m.scroll = viewCompare, 0
		return m, m.startCompare()
	case key.Matches(k, m.keys.Pages):
		m.view, m.scroll = viewPages, 0
		return m, nil
	case key.Matches(k, m.keys.Translate):
		m.view, m.scroll = viewTrans, 0
		m.send(ctlTransOn)
		return m, nil
	case key.Matches(k, m.keys.Strategy):
		return m, m.switchStrategy(1)
	case key.Matches(k, m.keys.PrevStrategy):
		return m, m.switchStrategy(-1)
	case key.Matches(k, m.keys.Restart):
		return m, m.restart()
	case key.Matches(k, m.keys.Step):
		m.request(ctlStep)
	case key.Matches(k, m.keys.Next):
		m.request(ctlNext)
	case key.Matches(k, m.keys.Continue):
		m.toggleRun()
	case key.Matches(k, m.keys.Save):
		m.whole(ctlSave, "saving the VM")
	case key.Matches(k, m.keys.Restore):
		m.whole(ctlRestore, "restoring the saved VM")
	case key.Matches(k, m.keys.Move):
		m.whole(ctlMove, "moving the VM to the next strategy")
	}
	return m, nil
}

// whole asks for a save, restore or move of the paused VM (the guest
// goroutine answers with a note, or an error that leaves the VM as it was).
func (m *Model) whole(c control, doing string) {
	switch m.state {
	case runPaused:
	case runRunning, runBusy:
		m.flash = "pause the guest first (c)"
		return
	default:
		m.flash = "no paused guest to save, restore or move"
		return
	}
	if m.send(c) {
		m.flash = doing + "…"
	}
}

func (m *Model) pickerKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.picker.SettingFilter() {
		var cmd tea.Cmd
		m.picker, cmd = m.picker.Update(k)
		return m, cmd
	}
	switch {
	case k.String() == "ctrl+c", k.String() == "q":
		return m, m.quit()
	case key.Matches(k, m.keys.Help):
		m.back, m.view, m.scroll = viewPicker, viewHelp, 0
		return m, nil
	case key.Matches(k, m.keys.Back):
		if m.picker.IsFiltered() {
			m.picker.ResetFilter()
			return m, nil
		}
		if m.target != nil {
			m.view = viewMain
		}
		return m, nil
	case key.Matches(k, m.keys.Strategy), key.Matches(k, m.keys.PrevStrategy):
		dir := 1
		if key.Matches(k, m.keys.PrevStrategy) {
			dir = -1
		}
		if s, skipped := m.nextStrategy(dir); s != nil {
			m.strat = s
			m.flashSkipped(skipped)
		}
		m.setPickerTitle()
		return m, nil
	case key.Matches(k, m.keys.Pick):
		it, ok := m.picker.SelectedItem().(workloadItem)
		if !ok {
			return m, nil
		}
		args := it.w.DefaultArgs
		if it.w.Name == m.opts.Guest && m.opts.Args != "" {
			args = m.opts.Args
		}
		m.target = &target{w: it.w, args: args}
		if err := m.usable(m.strat); err != nil {
			if s, _ := m.nextStrategy(1); s != nil {
				m.flash = fmt.Sprintf("%s cannot run %s (%v): using %s", m.strat.Name, it.w.Name, err, s.Name)
				m.strat = s
			}
		}
		m.view = viewMain
		return m, m.restart()
	}
	var cmd tea.Cmd
	m.picker, cmd = m.picker.Update(k)
	return m, cmd
}

func (m *Model) setPickerTitle() {
	if m.strat != nil {
		m.picker.Title = fmt.Sprintf("pick a guest to run under %s (tab changes the strategy)", m.strat.Name)
	}
}

// leave goes back from an overlay view to the main view.
func (m *Model) leave() tea.Cmd {
	switch m.view {
	case viewTrans:
		m.send(ctlTransOff)
		m.view = viewMain
	case viewHelp:
		m.view = m.back
	case viewCompare, viewPages:
		m.view = viewMain
	}
	if m.target == nil {
		m.view = viewPicker
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	if m.eng != nil {
		m.eng.Close()
		m.eng = nil
	}
	return tea.Quit
}

func (m *Model) send(c control) bool {
	if m.eng == nil {
		return false
	}
	return m.eng.Send(c)
}

// request asks for a step or a run to the next exit.
func (m *Model) request(c control) {
	switch m.state {
	case runNone:
		m.flash = "pick a guest first (g)"
		return
	case runStopped:
		m.flash = "the guest has stopped: r runs it again"
		return
	case runFailed:
		m.flash = "nothing to run: r tries again, tab picks another strategy"
		return
	}
	if !m.send(c) {
		m.flash = "the guest is busy"
		return
	}
	m.pending++
	m.lastReq = c
	if m.state != runBooting {
		m.state = runBusy
	}
}

// toggleRun continues or pauses.
func (m *Model) toggleRun() {
	switch m.state {
	case runRunning:
		if m.send(ctlPause) {
			m.pausing = true
		}
	case runPaused, runBusy, runBooting:
		if m.send(ctlContinue) {
			m.state = runRunning
		}
	default:
		m.request(ctlContinue)
	}
}

// nextStrategy finds the next strategy in direction dir that can run the
// guest, and the ones skipped on the way with their reasons.
func (m *Model) nextStrategy(dir int) (*vmm.Strategy, []string) {
	n := len(m.strategies)
	cur := 0
	for i, s := range m.strategies {
		if s == m.strat {
			cur = i
		}
	}
	var skipped []string
	for step := 1; step < n; step++ {
		s := m.strategies[((cur+dir*step)%n+n)%n]
		if err := m.usable(s); err != nil {
			skipped = append(skipped, fmt.Sprintf("%s (%v)", s.Name, err))
			continue
		}
		return s, skipped
	}
	return nil, skipped
}

func (m *Model) flashSkipped(skipped []string) {
	if len(skipped) > 0 {
		m.flash = "skipped " + strings.Join(skipped, ", ")
	}
}

// switchStrategy re-runs the guest from the start under the next
// available strategy.
func (m *Model) switchStrategy(dir int) tea.Cmd {
	s, skipped := m.nextStrategy(dir)
	if s == nil {
		m.flash = "no other strategy can run here"
		if len(skipped) > 0 {
			m.flash += ": " + strings.Join(skipped, ", ")
		}
		return nil
	}
	m.strat = s
	m.setPickerTitle()
	m.flashSkipped(skipped)
	if m.target == nil {
		return nil
	}
	return m.restart()
}
