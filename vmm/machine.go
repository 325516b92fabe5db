package vmm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
	"virtsim/vmstate"
)

// The VMM region sits at the top of the 32-bit linear address space, above
// any guest RAM: the top 16 MiB. Most of it belongs to the strategy (a
// VMM's own descriptor tables, translation cache, ...); the machine keeps
// its privilege-switch trampoline in its top 128 KiB (see deliver.go).
const (
	VMMBase      = 0xFF000000
	VMMSize      = 0x01000000
	StrategyBase = VMMBase // the strategy's part: all but the machine's top 128 KiB
	StrategySize = VMMSize - machineSize
	machineSize  = 0x20000
	machineBase  = VMMBase + StrategySize
	gateGDTAddr  = machineBase           // a copy of the guest GDT with a call gate appended (64 KiB + 8)
	stubAddr     = machineBase + 0x18000 // lcall $gate, $0
	landingAddr  = machineBase + 0x19000 // the call gate's target: the landing hook fires here
	fastLandAddr = machineBase + 0x19800 // the landing code of system calls delivered in C (fast.go)
	gateMailAddr = machineBase + 0x19C00 // what that code reads (unicorn.GateMail*)
	iretAddr     = landingAddr + 0x10    // an iret on the landing page (ReturnOuter)
	// The trampoline's two pages: the stub runs at the interrupted code's
	// privilege level (CPL 3 too), the landing pad at the handler's. A VMM
	// with its own page tables maps the first user-accessible and the
	// second supervisor-only (with CR4.SMEP a supervisor fetch from a user
	// page faults).
	TrampolineStubPage    = stubAddr
	TrampolineLandingPage = landingAddr
	// The gate GDT copy the CPU reads during a privilege-raising delivery
	// (64 KiB and the gate: 17 pages): a VMM with its own page tables maps
	// it supervisor-only.
	TrampolineGDT     = gateGDTAddr
	TrampolineGDTSize = 0x11000
	maxInsnLen        = 15
	bootCodeSel       = 0x08
	bootDataSel       = 0x10
	defaultEFLAGS     = 0x2
	resetMXCSR        = 0x1F80
	maxSafetyNetIO    = 1 << 20
)

// Machine is one guest on the Unicorn substrate: RAM, the devices, the
// CPUID model, precise port I/O, and the exception and interrupt delivery
// that Unicorn lacks. It is the hardware; strategies are hypervisors built
// on it. The native strategy is the Machine with no VMM at all.
type Machine struct {
	E   *unicorn.Engine
	Img *guest.Image
	Cfg Config
	// The devices (platform.go): the port bus, COM1, the PIT, the 8259s,
	// the APICs, the RTC...
	*Platform

	res     Result
	counter *unicorn.Counter
	// ExtraCounter, if set, counts instructions the machine's own counter
	// (guest RAM only) does not see, such as bt's translation cache; an
	// event's Icount is the sum of both, so traces are placed right. It
	// must instrument [TCBase, TCEnd) when that is set (MMIO sites there
	// rely on it to sync EIP).
	ExtraCounter *unicorn.Counter

	// Run-loop state, set by hooks while the engine runs.
	stop      Stop // Kind != StopNone once the guest has stopped for good
	pause     bool // stop the engine at the next instruction boundary (RunToExit)
	pauseOn   func(Event) bool
	paused    bool
	resumeAt  uint32 // EIP to set once Start returns, if resume (an EIP write would cancel Stop: pitfall 6)
	resume    bool
	pendingUD bool // the invalid-instruction hook saw an undefined opcode
	irqWindow bool // an interrupt is pending while IF=0: single-step until IF opens
	inShadow  bool // the last instruction was sti (or a load of SS): interrupts wait one more instruction
	freeRan   bool // the last engine run had no instruction count: its translations lack the step hook
	wantClock bool // the guest loaded a PIT count: start the clock between runs
	wantFlush bool // the overlay hooks came or went: drop every translation between runs
	// msrs: values the guest wrote to the MSRs the machine serves itself
	// (msr.go).
	msrs map[uint32]uint64

	// The guest's own pages under the VMM's (overlay.go).
	overlayPolicy OverlayPolicy
	overlay       map[uint32]uint32
	overlayHooks  []unicorn.Hook
	overlaySwaps  []overlaySwap
	lastStore     overlayStoreAt
	stepThen      func() // run exactly one guest instruction, then call this
	hookErr       error  // an internal error inside a hook, surfaced by Run
	crashInsn     bool   // a crash report waits for its instruction (finishCrash)
	wall          time.Duration
	interrupt     atomic.Bool // Interrupt was called: pause at the next boundary
	// Saving at an instruction count (snapshot.go).
	pauseAt    uint64 // PauseAt's target (0: none)
	pauseArmed bool   // the counters' budgets are set for it
	legs       []vmstate.Leg
	legBase    legBase
	saveNoRAM  bool // SaveState leaves RAM to the caller (live migration)
	// SafePoint, if set, says whether the CPU standing at pc is at a guest
	// instruction boundary whose state a save can capture (a binary
	// translator: not inside the sequence that replaces one instruction).
	SafePoint func(pc uint32) bool

	ioSites   map[uint32]bool  // I/O and hlt instructions with a code hook
	syncSites []uint32         // a C code hook stores the flags before them (LosesFlagsMidBlock)
	dr        [8]uint32        // the debug registers (debugreg.go: never Unicorn's)
	ioAccess  IOAccess         // the I/O instruction being performed (no allocation per exit)
	stub      [7]byte          // the trampoline's lcall as last written (deliver.go)
	gateBuf   pendingGate      // what gate points at while a delivery is in flight
	fastGate  unicorn.FastGate // the system call armed for the C side last (fast.go)
	landGate  [8]byte          // its call gate as the Go path writes it (to the landing hook)
	scratch   []byte           // readScratch's buffer (the guest GDT copied per delivery)
	decoded   DecodeCache
	code      [maxInsnLen]byte
	Disks     *Disks
	mmio      *mmioAccess     // a device-page access caught by the memory hook (mmio.go)
	mmioSites map[uint32]bool // instructions found touching device pages: hooked, so EIP is exact there
	// MMIOMech is the mechanism of device-register accesses (mmio.go):
	// machine unless a strategy takes them as exits.
	MMIOMech Mechanism
	clock    *unicorn.BlockClock
	gate     *pendingGate // a privilege-raising delivery in flight through the call gate
	// SafetyNetIO counts I/O the precise site hooks missed (executed
	// through Unicorn's IN/OUT hook, imprecisely) before their site was found.
	SafetyNetIO uint64
	// IORewinds counts accesses of the safety net that the I/O permission
	// check denied: not performed, and run again at their site (safetyNet).
	IORewinds uint64
	rewind    ioRewind

	// Hooks strategies may set.
	// VMMTrap receives events the real IDT routes into the VMM region:
	// exits. Nil under native, whose IDT is the guest's.
	VMMTrap func(Trap)
	// VirtualIF, if set, is the interrupt flag that gates the PIC's
	// interrupts instead of the real one: a VMM that virtualizes IF says
	// when it can inject.
	VirtualIF func() bool
	// TCBase and TCEnd, if TCEnd is nonzero, bound a translation cache in
	// the strategy region: code the CPU runs on behalf of the guest kernel
	// (a binary translator's). Guest time counts its blocks like guest
	// RAM's, and a single step may end in it.
	TCBase, TCEnd uint32
	// GateSlot, if nonzero, is a GDT index the strategy's own real GDT
	// reserves for the machine's privilege-switch call gate.
	GateSlot uint16
	// OnGuestIO, if set, decides port I/O before the machine performs it;
	// returning true means the strategy handled the instruction itself.
	OnGuestIO func(io *IOAccess) bool
	// OnSysenter, if set, handles a sysenter at pc before the machine
	// performs it (sysenter.go); returning true means the strategy did.
	OnSysenter func(pc uint32) bool
	// GuestMMU, if set, is the paging state the guest sees (its virtual
	// CR0, CR3, CR4) under a VMM that virtualizes the MMU: the machine's
	// accesses by guest linear address walk the guest's tables with it.
	// Nil: no guest paging (identity), or under native the real registers.
	GuestMMU func() x86.MMU
	// OnDeviceWrite, if set, is told of guest memory a device wrote
	// (DeviceWrote): a VMM that keeps translations of guest code (a binary
	// translator's cache) retires those of the frames written.
	OnDeviceWrite func(phys, n uint32)
	// PageTraced, if set, says whether a guest frame holds a page table the
	// VMM traces (shadow paging), for the paging view.
	PageTraced func(frame uint32) bool

	nativeMMU     bool // the real CR0/CR3/CR4 are the guest's (native)
	trampPTReady  bool // trampPTAddr holds the machine's page table
	trampPAEReady bool // trampPAEPTAddr holds it in PAE form
	// OnProtWrite, if set, sees a store the memory protection refused
	// before the machine reports it as a crash; returning true means the
	// strategy did what the store meant (the CPU's own store is dropped and
	// execution goes on). The CPU setting a descriptor's Accessed bit in a
	// VMM's read-only shadow table arrives here. It runs inside a memory
	// hook, possibly nested in a host register write: it may read and write
	// memory but must not stop or redirect the engine.
	OnProtWrite func(addr uint32, size int, value uint64) bool
	// SegLoading, if set, is told the (real) selector of a code or stack
	// segment the machine is about to make the CPU load during a delivery:
	// a strategy whose real GDT is read-only sets the descriptor's Accessed
	// bit itself first (in the guest's table and in its shadow), so the
	// CPU's own store of that bit never hits the protection mid-delivery.
	// Unset, the machine sets the bit in the loaded GDT (the guest's).
	SegLoading func(sel uint16)
}

// NewMachine maps RAM and the VMM region, loads the image and the
// multiboot info block, sets the multiboot entry state and installs the
// machine's hooks.
func NewMachine(img *guest.Image, cfg Config, strategy string) (*Machine, error) {
	cfg = cfg.WithDefaults()
	if err := CheckMemSize(cfg.MemSize); err != nil {
		return nil, err
	}
	e, err := cfg.Engines.Get()
	if err != nil {
		return nil, fmt.Errorf("vmm: %w", err)
	}
	m := &Machine{E: e, Img: img, Cfg: cfg, ioSites: map[uint32]bool{}}
	m.nativeMMU = strategy == "native"
	m.res = Result{Guest: cfg.Name, Args: cfg.Args, Strategy: strategy, Counts: Counts{}, Counters: map[string]uint64{}}
	if m.res.Guest == "" {
		m.res.Guest = img.Name
	}
	if err := m.setup(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Machine) setup() error {
	e := m.E
	p, err := NewPlatform(m.Cfg, m.Now)
	if err != nil {
		return err
	}
	m.Platform = p
	d, err := p.AttachDisks(m.Cfg, m.Img, machineMem{m})
	if err != nil {
		return err
	}
	m.Disks = d
	if err := Boot(e, m.Img, m.Cfg.MemSize, m.Cfg.Args); err != nil {
		return err
	}
	if err := m.writeFirmware(); err != nil {
		return err
	}
	if err := e.MemWrite(landingAddr, []byte{0xF4}); err != nil {
		return fmt.Errorf("vmm: write trampoline: %w", err)
	}
	if err := e.MemWrite(iretAddr, []byte{0xCF}); err != nil {
		return fmt.Errorf("vmm: write trampoline: %w", err)
	}
	for _, seg := range m.Img.Segments {
		if seg.NoExec {
			continue // data: its I/O-looking bytes never run
		}
		m.sweepIOSites(seg.Addr, seg.Data)
		if seg.RunAddr() != seg.Addr {
			m.sweepIOSites(seg.RunAddr(), seg.Data) // where a higher-half kernel runs it
		}
	}
	return m.installHooks()
}

func (m *Machine) installHooks() error {
	e := m.E
	// Runs end with Stop, never at an address: guest code may run at
	// linear address 0 (xv6's first user instruction).
	if err := e.ExitSet(); err != nil {
		return fmt.Errorf("vmm: %w", err)
	}
	// The counter goes first: Unicorn calls code hooks in the order they
	// were added, and a hook that emulates an instruction and moves EIP
	// ends that instruction's hook calls. Counting first counts emulated
	// instructions too, each once.
	if m.Cfg.Count {
		// Guest code is anywhere below the VMM region: a paging guest runs
		// at linear addresses above its RAM (a higher-half kernel), and
		// its instructions count (and its budget holds) there too.
		c, err := e.NewInsnCounterRange(0, VMMBase-1, m.Cfg.InsnBudget)
		if err != nil {
			return fmt.Errorf("vmm: instruction counter: %w", err)
		}
		m.counter = c
		if err := c.ServeSites(m.onIOSite); err != nil {
			return fmt.Errorf("vmm: instruction counter: %w", err)
		}
	}
	if _, err := e.HookIntrFault(m.onInterrupt); err != nil {
		return fmt.Errorf("vmm: interrupt hook: %w", err)
	}
	if _, err := e.HookIn(m.onSafetyNetIn); err != nil {
		return fmt.Errorf("vmm: in hook: %w", err)
	}
	if _, err := e.HookOut(m.onSafetyNetOut); err != nil {
		return fmt.Errorf("vmm: out hook: %w", err)
	}
	if _, err := e.HookCPUID(m.onCPUID); err != nil {
		return fmt.Errorf("vmm: cpuid hook: %w", err)
	}
	if _, err := e.HookInsnInvalid(m.onInvalid); err != nil {
		return fmt.Errorf("vmm: invalid-instruction hook: %w", err)
	}
	if _, err := e.HookMemInvalid(m.onMemInvalid); err != nil {
		return fmt.Errorf("vmm: memory hook: %w", err)
	}
	if _, err := e.HookCodeEager(landingAddr, landingAddr, m.onLanding); err != nil {
		return fmt.Errorf("vmm: landing hook: %w", err)
	}
	code, _ := fastLandCode()
	if err := e.MemWrite(fastLandAddr, code); err != nil {
		return fmt.Errorf("vmm: write the landing code: %w", err)
	}
	e.OnFastGate(m.onFastGate)
	for pc := range m.ioSites {
		if err := m.hookSite(pc); err != nil {
			return err
		}
	}
	for _, pc := range m.syncSites {
		if m.counterServes(pc) {
			continue // the counter's hook on every instruction does it
		}
		if _, err := e.HookFlagsSync(uint64(pc), uint64(pc)); err != nil {
			return fmt.Errorf("vmm: flags hook at %#x: %w", pc, err)
		}
	}

	return nil
}

// Result reports the run so far.
func (m *Machine) Result() *Result {
	m.finishCrash()
	r := m.res
	r.Stop = m.stop
	if m.stop.Kind == StopNone {
		r.Stop.PC = m.pc()
	}
	r.Serial = m.Serial.Output.String()
	r.Exits = m.res.Counts.Exits()
	r.Wall = m.wall
	if m.counter != nil {
		r.Instructions = m.counter.Count()
	}
	r.Legs = m.Legs(&r)
	if m.IORewinds > 0 {
		r.Counters["io-rewound"] = m.IORewinds
	}
	if m.SafetyNetIO > 0 {
		r.Counters["io-imprecise"] = m.SafetyNetIO
	}
	return &r
}

// Close releases the engine: closes it, or gives it back to
// Cfg.Engines. The machine is left with a closed engine, whose every
// method fails, so that nothing reaches one lent to another machine.
func (m *Machine) Close() error {
	if m.Cfg.Engines == nil {
		return m.E.Close()
	}
	e := m.E
	m.E = &unicorn.Engine{}
	return m.Cfg.Engines.Put(e)
}

// Stopped reports how the guest stopped (Kind StopNone while it can run).
func (m *Machine) Stopped() Stop { return m.stop }

// Record counts an event; strategies call it for the events they handle.
// If a pause was requested for this kind of event, the engine stops at the
// next instruction boundary the caller reaches through Complete.
func (m *Machine) Record(cause string, mech Mechanism, pc uint32) {
	ev := Event{Cause: cause, Mech: mech, PC: pc}
	if m.counter != nil {
		ev.Icount = m.counter.Count()
		if m.ExtraCounter != nil {
			ev.Icount += m.ExtraCounter.Count()
		}
	}
	m.res.Counts.Add(cause, mech)
	if m.Cfg.Trace {
		m.res.Trace = append(m.res.Trace, ev)
	}
	if m.Cfg.OnEvent != nil {
		m.Cfg.OnEvent(ev)
	}
	if m.pauseOn != nil && m.pauseOn(ev) {
		m.pause = true
	}
}

// Complete finishes a hook that handled a guest instruction: execution
// continues at next, or the engine stops there if a pause or a stop is
// pending.
func (m *Machine) Complete(next uint32) {
	if m.pause || m.stop.Kind != StopNone || m.irqWindow || m.wantClock || m.wantFlush || m.stepThen != nil {
		m.resumeAt, m.resume = next, true
		m.E.Stop()
		return
	}
	m.setReg(unicorn.EIP, next)
}

// DropTranslations makes Unicorn forget its translations of the code in
// [begin, end) (host writes do not invalidate them: SUBSTRATE.md pitfall
// 5). Unicorn finds them by translating begin as an instruction fetch at the
// current privilege under the current paging, so under a VMM's own page
// tables (a supervisor-only TC seen from ring 3, guest RAM under SMEP seen
// from ring 1) the lookup would miss and silently drop nothing. In those
// cases paging is off around the call — the VMM's mappings are the
// identity — and the TLB is flushed after (host CR0 writes flush nothing:
// pitfall 7).
func (m *Machine) DropTranslations(begin, end uint64) error {
	cr0 := m.reg(unicorn.CR0)
	// The lookup misses for guest RAM when the VMM's tables map it user
	// (SMEP keeps ring 1 from fetching it), and for the VMM region only
	// from ring 3 (supervisor-only); otherwise paging can stay on.
	// (the trampoline's stub page is user-accessible: under SMEP ring 1
	// cannot fetch it either).
	missable := end <= uint64(m.Cfg.MemSize) || m.reg(unicorn.CS)&3 == 3 ||
		begin <= uint64(stubAddr) && uint64(stubAddr) < end
	if cr0&x86.CR0PG == 0 || !missable {
		if err := m.E.RemoveCache(begin, end); err != nil {
			return fmt.Errorf("vmm: drop translations of %#x-%#x: %w", begin, end, err)
		}
		return nil
	}
	if err := m.E.SetReg(unicorn.CR0, cr0&^x86.CR0PG); err != nil {
		return fmt.Errorf("vmm: paging off: %w", err)
	}
	rerr := m.E.RemoveCache(begin, end)
	if err := m.E.SetReg(unicorn.CR0, cr0); err != nil {
		return fmt.Errorf("vmm: paging on: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("vmm: drop translations of %#x-%#x: %w", begin, end, rerr)
	}
	if err := m.E.FlushTLB(); err != nil {
		return fmt.Errorf("vmm: %w", err)
	}
	return nil
}

// Interrupt makes a running Run or RunToExit return at the next
// instruction boundary, as a pause. It is safe from any goroutine (the
// terminal UI's pause key); a run that is not in progress is not affected.
func (m *Machine) Interrupt() {
	m.interrupt.Store(true)
	m.E.Stop()
}

// StepThen finishes a hook like Complete(next), then has the machine run
// exactly one guest instruction and call fn at the boundary after it: what
// a VMM needs to honour an interrupt shadow (sti lets one more instruction
// run before an interrupt).
func (m *Machine) StepThen(next uint32, fn func()) {
	m.stepThen = fn
	m.Complete(next)
}

// Stepping reports whether a StepThen is pending: a fault during the
// stepped instruction asked for another try.
func (m *Machine) Stepping() bool { return m.stepThen != nil }

// Halt stops the guest for good.
func (m *Machine) Halt(s Stop) {
	if m.stop.Kind == StopNone {
		m.stop = s
	}
	m.E.Stop()
}

// Crash stops the guest with a crash report at pc. Crashes are mostly
// found inside Unicorn hooks, some of them nested in a host call into the
// engine (a segment-register write that fired a memory hook), so the
// faulting instruction is disassembled only once the engine has returned
// (finishCrash): a crash report never calls into Unicorn from a hook.
func (m *Machine) Crash(pc uint32, format string, a ...any) {
	if m.stop.Kind == StopNone {
		m.crashInsn = true
	}
	m.Halt(Stop{Kind: StopCrash, Reason: fmt.Sprintf(format, a...), PC: pc})
}

// finishCrash names the instruction of a crash report, outside any hook. A
// PC the host cannot read leaves it empty (Disasm reports what it can).
func (m *Machine) finishCrash() {
	if m.crashInsn {
		m.crashInsn = false
		m.stop.Insn = m.Disasm(m.stop.PC)
	}
}

func (m *Machine) fail(err error) {
	if m.hookErr == nil {
		m.hookErr = err
	}
	m.E.Stop()
}

// Run mode for the run loop.
type runMode int

const (
	modeRun runMode = iota
	modeToEvent
	modeStep
)

// Run runs until the guest stops.
func (m *Machine) Run() (Stop, error) { return m.loop(modeRun, nil) }

// RunUntil runs until an event satisfies pred (then pauses after it is
// handled) or the guest stops.
func (m *Machine) RunUntil(pred func(Event) bool) (Stop, error) { return m.loop(modeToEvent, pred) }

// Step executes one guest instruction.
func (m *Machine) Step() (Stop, error) { return m.loop(modeStep, nil) }

func (m *Machine) loop(mode runMode, pred func(Event) bool) (Stop, error) {
	s, err := m.loop1(mode, pred)
	if m.crashInsn {
		m.finishCrash()
		if s.Kind == StopCrash {
			s = m.stop
		}
	}
	return s, err
}

func (m *Machine) loop1(mode runMode, pred func(Event) bool) (Stop, error) {
	if m.stop.Kind != StopNone {
		return m.stop, nil
	}
	m.pauseOn, m.pause = pred, false
	m.interrupt.Store(false)
	defer func() { m.pauseOn, m.pause = nil, false }()
	for {
		if fn := m.stepThen; fn != nil {
			m.stepThen = nil
			if err := m.stepOnce(); err != nil || m.stop.Kind != StopNone {
				return m.stop, err
			}
			fn()
			m.applyResume()
			if m.stop.Kind != StopNone {
				return m.stop, nil
			}
			if m.pause || mode == modeStep {
				return Stop{PC: m.pc()}, nil
			}
			continue
		}
		if m.irqWindow {
			if err := m.stepForInterruptWindow(); err != nil {
				return m.stop, err
			}
			if m.stop.Kind != StopNone {
				return m.stop, nil
			}
			if m.pause || mode == modeStep {
				return Stop{PC: m.pc()}, nil
			}
			continue
		}
		if mode == modeStep {
			if err := m.stepOnce(); err != nil || m.stop.Kind != StopNone {
				return m.stop, err
			}
			if m.irqWindow {
				continue // the step raised an interrupt: take it if IF allows
			}
			return Stop{PC: m.pc()}, nil
		}
		handled, err := m.runEngine(0)
		if err != nil || m.stop.Kind != StopNone {
			return m.stop, err
		}
		switch {
		case m.pause, m.interrupt.Swap(false):
			return Stop{PC: m.pc()}, nil
		case handled || m.irqWindow:
			continue
		}
		// Start returned with nothing pending: Unicorn halted the CPU at a
		// hlt the site sweep did not find.
		m.onUnsweptHalt()
		if m.stop.Kind != StopNone {
			return m.stop, nil
		}
	}
}

// stepOnce executes one guest instruction. A delivery in flight continues
// through the VMM trampoline, so a step always ends on a guest instruction.
func (m *Machine) stepOnce() error {
	for {
		if _, err := m.runEngine(1); err != nil || m.stop.Kind != StopNone {
			return err
		}
		if pc := m.pc(); m.gate == nil && (!inVMM(pc) || m.inTC(pc)) {
			return nil
		}
	}
}

// runEngine runs the engine once (count = 0: until something stops it) and
// applies what its hooks left pending. handled reports that a hook or the
// loop acted (so Start returning is not a halt).
func (m *Machine) runEngine(count uint64) (handled bool, err error) {
	// The time budget counts the time the guest ran, not time spent paused
	// between runs (a debugger, the terminal UI).
	remaining := m.Cfg.TimeBudget - m.wall
	if remaining <= 0 {
		m.budgetStop(fmt.Sprintf("time budget of %s exhausted", m.Cfg.TimeBudget))
		return false, nil
	}
	// A step under native with the counter on stops through the
	// counter's budget instead of Unicorn's count: Unicorn adds its count
	// hook for the run and, at the next free run, removes it and flushes
	// every translated block (memset of the whole code buffer), and
	// blocks of a free run must be dropped before a counted step. xv6's
	// idle loop steps at every interrupt that waits for IF: the flushes
	// took most of its time. The counter sees guest instructions only, so
	// a step started in the machine's trampoline ends at the first guest
	// instruction, unexecuted — where Unicorn's count left it too.
	//
	// Under bt (ExtraCounter: the translation cache's counter) the two
	// counters share the step: the one whose range holds the instruction
	// lets it run, the other none (bt steps a traced page-table store,
	// stepWith, ~1000 times for a kernel's memset of a freed table).
	stepN, extraN := count, uint64(0)
	switch {
	case m.inTC(m.pc()):
		stepN, extraN = 0, count
	case inVMM(m.pc()):
		stepN = 0
	}
	stepByBudget := count > 0 && (m.nativeMMU || m.ExtraCounter != nil) && m.counter != nil &&
		m.counter.Count()+stepN > 0 && m.counter.Count()+stepN <= m.Cfg.InsnBudget && // budget 0 would mean none
		(m.ExtraCounter == nil || m.ExtraCounter.Count()+extraN > 0)
	extraBudget := uint64(0)
	if stepByBudget {
		m.counter.SetBudget(m.counter.Count() + stepN)
		if m.ExtraCounter != nil {
			extraBudget = m.ExtraCounter.Budget()
			m.ExtraCounter.SetBudget(m.ExtraCounter.Count() + extraN)
		}
		count = 0
	} else if count > 0 && m.freeRan {
		// Unicorn counts instructions with a hook it adds at each start;
		// blocks translated during a free run lack the call, so a step
		// would run on. Drop them first (SUBSTRATE.md pitfall 4's twin).
		if err := m.DropTranslations(0, uint64(m.Cfg.MemSize)); err != nil {
			return false, fmt.Errorf("before stepping: %w", err)
		}
		if m.TCEnd != 0 {
			if err := m.DropTranslations(uint64(m.TCBase), uint64(m.TCEnd)); err != nil {
				return false, fmt.Errorf("before stepping: %w", err)
			}
		}
	}
	if count == 0 && !stepByBudget {
		// A free run stops at a pause point (save, a partition's slice); a
		// step through the counter's budget is one instruction already.
		if m.pauseReached() {
			return false, nil
		}
		m.armPause()
	}
	m.freeRan = count == 0
	pc := m.pc()
	m.resume = false
	t0 := time.Now()
	// The time budget: Engine.Start runs a Go watchdog that stops the
	// engine (no Unicorn timeout thread, which polled with usleep and cost
	// ~300 µs per restart — the machine restarts for every device access).
	// until = 0: no exit address (ExitSet, installHooks).
	startErr := m.E.Start(uint64(pc), 0, remaining, count)
	m.wall += time.Since(t0)
	if stepByBudget {
		m.counter.SetBudget(m.Cfg.InsnBudget) // the step's end is not the run's budget
		if m.ExtraCounter != nil {
			m.ExtraCounter.SetBudget(extraBudget)
		}
	}
	m.finishCrash()
	if m.hookErr != nil {
		return false, m.hookErr
	}
	m.restoreSwaps()
	if err := m.flushForOverlay(); err != nil {
		return false, err
	}
	mmio := m.mmio != nil
	if mmio {
		startErr = m.finishMMIO(startErr)
	}
	if m.wantClock {
		if err := m.startClock(); err != nil {
			return false, err
		}
	}
	handled = m.resume || mmio || m.rewind.pending
	m.finishRewind()
	if m.disarmPause() {
		handled = true
	}
	m.applyResume()
	if startErr != nil && m.stop.Kind == StopNone {
		m.engineError(startErr)
		handled = true
	}
	if m.pendingUD && m.stop.Kind == StopNone {
		m.pendingUD = false
		m.deliverException(x86.VecUD, 0, m.pc())
		handled = true
	}
	m.applyResume()
	switch {
	case m.stop.Kind != StopNone:
	case m.counter != nil && (m.counter.Exhausted() || m.ExtraCounter != nil && m.totalCount() >= m.Cfg.InsnBudget):
		m.budgetStop(fmt.Sprintf("instruction budget of %d exhausted", m.Cfg.InsnBudget))
	case m.wall >= m.Cfg.TimeBudget || m.E.TimedOut():
		m.budgetStop(fmt.Sprintf("time budget of %s exhausted", m.Cfg.TimeBudget))
	}
	return handled, nil
}

func (m *Machine) applyResume() {
	if m.resume {
		m.setReg(unicorn.EIP, m.resumeAt)
		m.resume = false
	}
}

func inVMM(pc uint32) bool { return pc >= VMMBase }

func (m *Machine) inTC(pc uint32) bool { return m.TCEnd != 0 && pc >= m.TCBase && pc < m.TCEnd }

func (m *Machine) budgetStop(reason string) {
	pc := m.pc()
	m.stop = Stop{Kind: StopBudget, Reason: reason, PC: pc, Insn: m.Disasm(pc)}
}

// onUnsweptHalt handles Unicorn returning on its own: a hlt the sweep did
// not find (EIP after it). It is hooked for next time and handled now.
func (m *Machine) onUnsweptHalt() {
	pc := m.pc()
	if b, err := m.read(pc-1, 1); err == nil && b[0] == 0xF4 {
		m.addSite(pc - 1)
		m.setReg(unicorn.EIP, pc-1)
		m.onHlt(pc - 1)
		m.applyResume()
		return
	}
	m.Crash(pc, "emulation stopped unexpectedly (Unicorn stops silently on a triple fault)")
}

func (m *Machine) engineError(err error) {
	pc := m.pc()
	switch {
	case errors.Is(err, unicorn.ErrInsnInvalid):
		m.deliverException(x86.VecUD, 0, pc)
	case errors.Is(err, unicorn.ErrFetchUnmapped), errors.Is(err, unicorn.ErrReadUnmapped), errors.Is(err, unicorn.ErrWriteUnmapped):
		if m.stop.Kind == StopNone {
			m.Crash(pc, "access outside guest RAM (%d MiB): %v", m.Cfg.MemSize>>20, err)
		}
	default:
		m.Crash(pc, "engine error: %v", err)
	}
}

func (m *Machine) onMemInvalid(acc unicorn.MemAccess, addr uint64, size int, value int64) bool {
	if m.catchMMIO(acc, addr, size, value) {
		return false // Unicorn stops at the instruction; finishMMIO emulates it
	}
	if acc == unicorn.MemWriteProt && addr < 1<<32 && m.overlayStore(uint32(addr), size, uint64(value)) {
		return true
	}
	if acc == unicorn.MemWriteProt && m.OnProtWrite != nil && addr < 1<<32 && m.OnProtWrite(uint32(addr), size, uint64(value)) {
		return true
	}
	if (acc == unicorn.MemFetchProt || acc == unicorn.MemFetchUnmapped) && addr < 1<<32 && m.Overlaid(uint32(addr)) {
		m.OverlayCodeStop(uint32(addr))
		return false
	}
	kind := acc.String()
	if addr >= uint64(m.Cfg.MemSize) {
		// The VMM region is no more the guest's than unmapped space: a
		// write or fetch there the VMM's protection refused reads the same.
		switch acc {
		case unicorn.MemWriteProt:
			kind = unicorn.MemWriteUnmapped.String()
		case unicorn.MemReadProt:
			kind = unicorn.MemReadUnmapped.String()
		case unicorn.MemFetchProt:
			kind = unicorn.MemFetchUnmapped.String()
		}
	}
	m.Crash(m.pc(), "guest %s of %d bytes at unmapped address %#x (guest RAM is %d MiB)", kind, size, addr, m.Cfg.MemSize>>20)
	return false
}

// GuardVMMRegion makes the VMM region as unreachable for the guest as it
// would be on a real machine, where that memory is not the guest's: the
// strategy's part is left unmapped (unless the strategy keeps its own data
// there) and the machine's trampoline is read+execute (the CPU reads the
// gate GDT copy and runs the one-instruction stub; the host still writes
// both). A guest store or jump into it then ends the run like an access to
// unmapped memory. Unicorn's protection ignores CPL (SUBSTRATE.md): guest
// and VMM code share it, which is why the strategy part is the strategy's
// to guard (trap: read-only tables; bt: its own page tables).
func (m *Machine) GuardVMMRegion(unmapStrategy bool) error {
	if unmapStrategy {
		if err := m.E.MemUnmap(StrategyBase, StrategySize); err != nil {
			return fmt.Errorf("vmm: unmap the strategy region: %w", err)
		}
	}
	if err := m.E.MemProtect(machineBase, machineSize, unicorn.ProtRead|unicorn.ProtExec); err != nil {
		return fmt.Errorf("vmm: protect the machine region: %w", err)
	}
	return nil
}

func (m *Machine) onInvalid() bool {
	m.pendingUD = true
	return true
}

// onCPUID serves virtsim's CPU model.
func (m *Machine) onCPUID() bool {
	pc := m.pc()
	leaf, sub := m.reg(unicorn.EAX), m.reg(unicorn.ECX)
	r := CPUID(leaf, sub)
	m.setRegs([]unicorn.Reg{unicorn.EAX, unicorn.EBX, unicorn.ECX, unicorn.EDX}, []uint32{r[0], r[1], r[2], r[3]})
	m.Record(CauseCPUID, MechMachine, pc)
	return true
}

// ---- register and memory helpers (errors here are engine failures) ----

func (m *Machine) reg(r unicorn.Reg) uint32 {
	v, err := m.E.Reg(r)
	if err != nil {
		m.fail(fmt.Errorf("vmm: read %v: %w", r, err))
	}
	return v
}

func (m *Machine) setReg(r unicorn.Reg, v uint32) {
	if err := m.E.SetReg(r, v); err != nil {
		m.fail(fmt.Errorf("vmm: write %v=%#x: %w", r, v, err))
	}
}

func (m *Machine) setRegs(rs []unicorn.Reg, vs []uint32) {
	if err := m.E.SetRegs(rs, vs); err != nil {
		m.fail(fmt.Errorf("vmm: write registers: %w", err))
	}
}

func (m *Machine) pc() uint32 { return m.reg(unicorn.EIP) }

// Reg reads a register (for strategies and the TUI).
func (m *Machine) Reg(r unicorn.Reg) uint32 { return m.reg(r) }

// SetReg writes a register.
func (m *Machine) SetReg(r unicorn.Reg, v uint32) { m.setReg(r, v) }

// ReadMem reads guest memory by linear address.
func (m *Machine) ReadMem(addr uint32, b []byte) error {
	if err := m.linearIO(addr, b, false); err != nil {
		return fmt.Errorf("vmm: read %d bytes at %#x: %w", len(b), addr, err)
	}
	return nil
}

// WriteMem writes guest memory by linear address.
func (m *Machine) WriteMem(addr uint32, b []byte) error { return m.write(addr, b) }

// Fail stops the run with an internal (VMM) error.
func (m *Machine) Fail(err error) { m.fail(err) }

func (m *Machine) read(addr uint32, n int) ([]byte, error) {
	b := make([]byte, n)
	if err := m.linearIO(addr, b, false); err != nil {
		return nil, fmt.Errorf("vmm: read %d bytes at %#x: %w", n, addr, err)
	}
	return b, nil
}

// readScratch reads n bytes into a buffer the machine reuses: valid until
// the next call.
func (m *Machine) readScratch(addr uint32, n int) ([]byte, error) {
	if cap(m.scratch) < n {
		m.scratch = make([]byte, n)
	}
	b := m.scratch[:n]
	if err := m.linearIO(addr, b, false); err != nil {
		return nil, fmt.Errorf("vmm: read %d bytes at %#x: %w", n, addr, err)
	}
	return b, nil
}

func (m *Machine) read32(addr uint32) (uint32, error) {
	b, err := m.read(addr, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (m *Machine) write(addr uint32, b []byte) error {
	if err := m.linearIO(addr, b, true); err != nil {
		return fmt.Errorf("vmm: write %d bytes at %#x: %w", len(b), addr, err)
	}
	return nil
}

// fetch reads up to maxInsnLen bytes of code at pc (fewer at the end of
// mapped memory) into buf.
func (m *Machine) fetch(pc uint32, buf *[maxInsnLen]byte) []byte {
	for n := maxInsnLen; n > 0; n-- {
		// What the CPU runs: the VMM's own code where it lies under a
		// guest page overlaid there (overlay.go).
		if err := m.cpuRead(pc, buf[:n]); err == nil {
			return buf[:n]
		}
	}
	return nil
}

// Decode decodes the instruction at pc, each site once (DecodeCache).
func (m *Machine) Decode(pc uint32) (x86asm.Inst, error) {
	code := m.fetch(pc, &m.code)
	if code == nil {
		return x86asm.Inst{}, fmt.Errorf("vmm: no memory at %#x", pc)
	}
	return m.decoded.Decode(pc, code)
}

// Disasm renders the instruction at pc in AT&T syntax, or "" if it cannot
// be decoded.
func (m *Machine) Disasm(pc uint32) string {
	inst, err := m.Decode(pc)
	if err != nil {
		var buf [maxInsnLen]byte
		if code := m.fetch(pc, &buf); len(code) > 0 {
			return fmt.Sprintf("undecodable: % x", code[:min(len(code), 4)])
		}
		return ""
	}
	return x86asm.GNUSyntax(inst, uint64(pc), nil)
}

// Boot maps guest RAM and the VMM region into a fresh engine, loads the
// image and the multiboot info block, and sets the multiboot entry state:
// protected mode, flat segments, paging off, IF=0, EAX=0x2BADB002, EBX=the
// info block. It installs no hooks: the Machine adds the hardware model on
// top, and the benchmarks use it alone for a bare libunicorn run.
func Boot(e *unicorn.Engine, img *guest.Image, memSize uint32, args string) error {
	// Guest RAM is host-backed too: the VMM's reads of guest memory on
	// every exit (the instruction, a gate, a descriptor) are plain copies,
	// not cgo calls.
	if err := e.MemMapHost(0, uint64(memSize), unicorn.ProtAll); err != nil {
		return fmt.Errorf("vmm: map guest RAM: %w", err)
	}
	// The VMM region is host-backed memory (the VMM writes it directly, also
	// where it is read-only to the guest: no memory-map rebuild per write)
	// and two regions from the start, the strategy's and the machine's, so
	// that GuardVMMRegion and a strategy's protection change whole regions
	// instead of splitting one (a split copies it).
	if err := e.MemMapHost(StrategyBase, StrategySize, unicorn.ProtAll); err != nil {
		return fmt.Errorf("vmm: map the strategy region: %w", err)
	}
	if err := e.MemMapHost(machineBase, machineSize, unicorn.ProtAll); err != nil {
		return fmt.Errorf("vmm: map the machine region: %w", err)
	}
	for _, s := range img.Segments {
		if uint64(s.Addr)+uint64(s.MemSize) > uint64(memSize) {
			return fmt.Errorf("vmm: segment %#x+%#x lies outside %d MiB of guest RAM", s.Addr, s.MemSize, memSize>>20)
		}
		if err := e.MemWrite(uint64(s.Addr), s.Data); err != nil {
			return fmt.Errorf("vmm: load segment at %#x: %w", s.Addr, err)
		}
	}
	infoAddr, info := guest.MultibootInfo(memSize, args)
	if err := e.MemWrite(uint64(infoAddr), info); err != nil {
		return fmt.Errorf("vmm: write multiboot info: %w", err)
	}
	// The entry GDT: flat code and data, like the GDT QEMU's multiboot
	// loader leaves behind. Guests load their own before relying on it.
	bootGDT := uint32(guest.BootScratchAddr)
	var gdt [24]byte
	binary.LittleEndian.PutUint64(gdt[8:], x86.EncodeSegment(0, 0xFFFFFFFF, 0xA, 0, true, true))
	binary.LittleEndian.PutUint64(gdt[16:], x86.EncodeSegment(0, 0xFFFFFFFF, 0x2, 0, true, true))
	if err := e.MemWrite(uint64(bootGDT), gdt[:]); err != nil {
		return fmt.Errorf("vmm: write entry GDT: %w", err)
	}
	if err := e.SetMMR(unicorn.GDTR, unicorn.MMR{Base: bootGDT, Limit: uint32(len(gdt) - 1)}); err != nil {
		return fmt.Errorf("vmm: set GDTR: %w", err)
	}
	if err := e.SetMMR(unicorn.IDTR, unicorn.MMR{Base: 0, Limit: 0}); err != nil {
		return fmt.Errorf("vmm: set IDTR: %w", err)
	}
	regs := []unicorn.Reg{unicorn.CS, unicorn.SS, unicorn.DS, unicorn.ES, unicorn.FS, unicorn.GS,
		unicorn.EAX, unicorn.EBX, unicorn.ECX, unicorn.EDX, unicorn.ESI, unicorn.EDI, unicorn.EBP, unicorn.ESP,
		unicorn.EFLAGS, unicorn.EIP}
	vals := []uint32{bootCodeSel, bootDataSel, bootDataSel, bootDataSel, bootDataSel, bootDataSel,
		guest.MultibootMagic, infoAddr, 0, 0, 0, 0, 0, guest.EntryESP,
		defaultEFLAGS, img.Entry}
	for i, r := range regs {
		if err := e.SetReg(r, vals[i]); err != nil {
			return fmt.Errorf("vmm: entry state: set %v: %w", r, err)
		}
	}
	// MXCSR as the CPU's reset leaves it (all SSE exceptions masked):
	// Unicorn starts it at 0, which an fxsave shows and an unmasked SSE
	// exception would follow.
	if err := e.SetReg(unicorn.MXCSR, resetMXCSR); err != nil {
		return fmt.Errorf("vmm: entry state: set MXCSR: %w", err)
	}
	cr0, err := e.Reg(unicorn.CR0)
	if err != nil {
		return fmt.Errorf("vmm: read CR0: %w", err)
	}
	if err := e.SetReg(unicorn.CR0, (cr0|x86.CR0PE|x86.CR0ET)&^x86.CR0PG); err != nil {
		return fmt.Errorf("vmm: set CR0: %w", err)
	}
	return nil
}
