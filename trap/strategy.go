package trap

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/shadow"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// The trap strategy: classical trap-and-emulate on the Unicorn machine.
//
// Deprivileging by ring compression: the guest kernel runs at real CPL 1,
// guest user code at CPL 3. The VMM owns the descriptor tables the CPU
// really uses, in the strategy's part of the VMM region:
//
//   - the real GDT: a shadow of the guest's, entry for entry, with every
//     DPL-0 segment turned into DPL 1 (so the guest's selectors keep their
//     values), plus the VMM's own entries at the top of the table: its TSS,
//     a ring-0 code segment for its IDT gates, and the slot the machine uses
//     for its privilege-switch call gate;
//   - the real IDT: every vector leads into the VMM (a distinct address per
//     vector in the VMM region), DPL 3 so that any int n reaches the VMM;
//   - the real TSS: SS1:ESP1 is the guest kernel's stack, copied from the
//     guest's own TSS each time an event enters the guest kernel from user mode.
//
// The real IOPL is 0 and the real IF is 1: cli, sti, hlt, in/out, mov to
// CRn, lgdt, lidt, ltr, ... fault at CPL 1 and reach the VMM, which emulates
// them against the virtual CPU (VCPU). Exceptions and int n from the guest
// reach the VMM too, which reflects them into the guest's own handler
// through the guest's IDT. External interrupts reach the VMM, which injects
// them when the guest's virtual IF allows.
//
// What does not trap is the x86 hole: pushf shows the real IF (always 1),
// popf cannot change the virtual IF, sgdt/sidt/str show the VMM's tables,
// mov %cs shows RPL 1, lar shows DPL 1. The trap strategy does not hide it:
// pgprobe prints what a deprivileged kernel really observes, the run summary
// names the sensitive instructions the image contains, and --audit counts
// each one executed.

// Layout of the strategy region (vmm.StrategyBase).
const (
	realGDTAddr   = vmm.StrategyBase           // 8192 entries
	realIDTAddr   = vmm.StrategyBase + 0x10000 // 256 gates
	realTSSAddr   = vmm.StrategyBase + 0x10800
	vmmEntryAddr  = vmm.StrategyBase + 0x11000 // vector v enters the VMM at vmmEntryAddr+v
	dropStub      = vmm.StrategyBase + 0x11100 // iret, run once at boot to enter ring 1
	dropLand      = vmm.StrategyBase + 0x11110
	dropStack     = vmm.StrategyBase + 0x11200
	gdtEntries    = 8192
	tssIndex      = 8191 // the VMM's TSS
	vmmCodeIndex  = 8190 // ring-0 code for the real IDT's gates
	gateSlotIndex = 8189 // the machine's privilege-switch call gate
	guestMaxIndex = gateSlotIndex - 1
	tssSize       = 0x68
)

func init() {
	vmm.Register(&vmm.Strategy{
		Name:        "trap",
		Description: "trap-and-emulate: the guest kernel deprivileged to CPL 1 (ring compression); what faults is emulated by the VMM",
		Substrate:   "unicorn",
		Available:   func() error { return nil },
		New:         New,
	})
}

// VMM is one guest under trap-and-emulate.
type VMM struct {
	*vmm.Machine
	V   VCPU
	emu *Emulator
	cpu *unicornCPU
	// pending holds external interrupt vectors the VMM accepted while the
	// guest's virtual IF was clear, to inject when it opens. (The machine
	// consults VirtualIF, so this only catches races.)
	pending []uint8
	shadow  bool // inside the one-instruction shadow of an emulated sti
	// sensitive counts the image's sensitive-but-unprivileged instruction
	// sites by mnemonic (a static sweep, free at run time).
	// Redirect, if set, maps a guest-kernel address to where the real CPU
	// should continue instead: a binary translator returns the address of
	// the translated code. Guest user code and the return addresses in
	// frames are never redirected.
	Redirect func(guestEIP uint32) uint32
	// UserIF, if set, tells the virtual IF of guest user code (a binary
	// translator records the IF its translated iret to user mode pops).
	UserIF func() bool
	// MirrorIF keeps the real EFLAGS.IF equal to the virtual IF while the
	// guest runs (mirrorIF), so that the guest kernel's pushf at CPL 1
	// shows the IF it set with cli and sti. A classic VMM keeps the real IF
	// set so the host's own interrupts reach it; this one needs no host
	// interrupts to keep control (its budget and watchdog stop the engine,
	// as an NMI would stop a real CPU), so it can lend the real IF to the
	// guest. popf at CPL 1 still cannot change IF (the CPU ignores it when
	// CPL > IOPL): that half of the hole stays, as does pushf's IOPL.
	// trap sets it; bt and pv emulate or translate pushf themselves.
	MirrorIF  bool
	sensitive map[string]int
	audit     map[string]uint64
	auditCls  map[uint32]string
	auditPC   uint32 // the last instruction the audit counted
	audited   bool
	// Shadow paging (shadow.go): on under trap itself; the strategies
	// built on trap (bt, pv) manage page tables their own way.
	sh       *shadow.MMU
	shadowOK bool     // this VMM virtualizes the MMU with shadow page tables
	shadowOn bool     // the guest pages: the real CPU runs on the shadow
	vmmPDEs  []uint32 // directory entries mapping the VMM region (VMMDirEntries)
	// stepped: real page-table entries changed for the instruction being
	// stepped (a traced table written by other than mov).
	stepped  []steppedEntry
	stepDone func() // StepAliased's continuation
	// overlaps: guest pages mapped onto memory other than RAM under the
	// VMM's present ones (noteOverlap); those on RAM are overlaid
	// (overlay.go).
	overlaps map[uint32]bool
	// OverlayExplicit, if set, decides first whether an access at EIP pc
	// to an overlaid page is the guest's (decided=false: trap's rule).
	// A translator says it for its code cache.
	OverlayExplicit func(pc, addr uint32, size int, write bool) (guestPC uint32, explicit, decided bool)
	// OverlayStored, if set, is told of every guest store performed in
	// frame through an overlaid page (a translator drops translations
	// of code there).
	OverlayStored func(frame uint32)
	// OverlayChanged, if set, is told the overlaid pages whenever they
	// are set (a translator write-protects its own writable page there).
	OverlayChanged func(pages map[uint32]uint32)
	// aliases: the VMM's own (absent) entries in its region replaced by
	// the guest's (MapAlias), by entry address, with what to put back.
	aliases map[uint32]uint32
	offCR3  uint32 // the real CR3 while the guest does not page (0: real paging off)
	name    string // the strategy's name, for reports
	// cli and sti emulated in C (fast.go): on for trap itself.
	fastOK   bool
	fastMode int
	fast     []fastSite
	fastBuf  []unicorn.FastSite
	// fastHooked: cli/sti sites with a code hook (HookFastSite).
	fastHooked map[uint32]bool
	// PagingChanged, if set, runs after the real MMU followed a change of
	// the guest's paging state (a write of CR0, CR3 or CR4): a binary
	// translator checks that its translations still read what they did.
	PagingChanged func()
	// MappingsChanged, if set, runs after the VMM performed a guest store
	// into a traced page table or an invlpg.
	MappingsChanged func()
}

// New boots img under trap-and-emulate. The VMM's tables in the strategy
// region are read-only to the guest (the CPU only reads them; the VMM
// writes them from the host): a guest kernel at CPL 1 cannot rewrite the
// real GDT or IDT.
func New(img *guest.Image, cfg vmm.Config) (vmm.Instance, error) {
	t, err := NewVMM(img, cfg, "trap")
	if err != nil {
		return nil, err
	}
	if err := t.initShadow(); err != nil {
		t.Close()
		return nil, fmt.Errorf("trap: shadow page tables: %w", err)
	}
	t.shadowOK = true
	t.emu.RepPerExit = 1 // every element of a rep string I/O is a trap
	t.MirrorIF = !cfg.ClassicIF
	t.mirrorIF()
	t.fastOK = true
	t.E.OnFast(t.fastDone)
	if err := t.E.MemProtect(vmm.StrategyBase, vmm.StrategySize, unicorn.ProtRead); err != nil {
		t.Close()
		return nil, fmt.Errorf("trap: protect the VMM's tables: %w", err)
	}
	return t, nil
}

// NewVMM boots img with its kernel deprivileged to CPL 1 under the VMM's
// own tables, reporting as strategy name. Other strategies build on it
// (binary translation, paravirtualization): they replace Machine.VMMTrap
// with their own entry and call OnTrap for what they leave to
// trap-and-emulate.
func NewVMM(img *guest.Image, cfg vmm.Config, name string) (*VMM, error) {
	m, err := vmm.NewMachine(img, cfg, name)
	if err != nil {
		return nil, err
	}
	t := &VMM{Machine: m, name: name}
	t.cpu = &unicornCPU{m: m}
	t.emu = &Emulator{P: t}
	if err := t.deprivilege(); err != nil {
		m.Close()
		return nil, fmt.Errorf("trap: %w", err)
	}
	if err := m.GuardVMMRegion(false); err != nil {
		m.Close()
		return nil, fmt.Errorf("trap: %w", err)
	}
	m.VMMTrap = t.OnTrap
	m.OnSysenter = t.onSysenter
	m.GuestMMU = t.guestMMU
	m.PageTraced = func(frame uint32) bool { return t.sh != nil && t.shadowOn && t.sh.Traced(frame) }
	m.OnProtWrite = t.onProtWrite
	m.SegLoading = func(sel uint16) {
		if !x86.SelTI(sel) && x86.SelIndex(sel) != 0 && uint32(x86.SelIndex(sel)) <= guestMaxIndex {
			if err := t.MarkAccessed(x86.SelIndex(sel)); err != nil {
				t.Fail(err)
			}
		}
	}
	m.GateSlot = gateSlotIndex
	// Device pages are not mapped for the guest: its accesses fault into
	// the VMM, which emulates them (vmm/mmio.go).
	m.MMIOMech = vmm.MechTrap
	// Interrupts wait in the PIC until the guest's virtual IF allows them
	// (and not inside the shadow of an emulated sti).
	m.VirtualIF = func() bool {
		if t.shadow {
			return false
		}
		if t.Reg(unicorn.CS)&3 == 3 {
			// Guest user code: the IF its kernel's iret popped (see
			// SyncCPL), not the kernel's from before that iret, which
			// ran without an exit.
			return t.UserIF == nil || t.UserIF()
		}
		return t.V.IF
	}
	t.sweepSensitive()
	if cfg.Audit {
		if err := t.installAudit(); err != nil {
			m.Close()
			return nil, fmt.Errorf("trap: %w", err)
		}
	}
	return t, nil
}

// deprivilege builds the VMM's real tables from the entry state and drops
// the guest kernel to CPL 1.
func (t *VMM) deprivilege() error {
	m := t.Machine
	gdtr, err := m.E.MMR(unicorn.GDTR)
	if err != nil {
		return err
	}
	idtr, err := m.E.MMR(unicorn.IDTR)
	if err != nil {
		return err
	}
	cr0, err := m.E.Reg(unicorn.CR0)
	if err != nil {
		return err
	}
	eflags := m.Reg(unicorn.EFLAGS)
	t.V = VCPU{
		CPL: 0, IF: eflags&x86.FlagIF != 0, IOPL: x86.IOPL(eflags),
		CR0:  cr0,
		GDTR: DTR{Base: gdtr.Base, Limit: uint16(gdtr.Limit)},
		IDTR: DTR{Base: idtr.Base, Limit: uint16(idtr.Limit)},
		MSR:  map[uint32]uint64{},
	}
	// The VMM's entries.
	put := func(index int, raw uint64) error {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], raw)
		return m.OwnWrite(realGDTAddr+uint32(index)*8, b[:])
	}
	if err := put(vmmCodeIndex, x86.EncodeSegment(0, 0xFFFFFFFF, 0xA, 0, true, true)); err != nil {
		return err
	}
	if err := put(tssIndex, x86.EncodeSystem(realTSSAddr, tssSize-1, x86.TypeTSS32Avail, 0)); err != nil {
		return err
	}
	// The real IDT: every vector into the VMM.
	idt := make([]byte, 256*8)
	for v := 0; v < 256; v++ {
		binary.LittleEndian.PutUint64(idt[v*8:], x86.EncodeGate(x86.TypeIntGate32, vmmCodeIndex<<3, vmmEntryAddr+uint32(v), 3))
	}
	if err := m.OwnWrite(realIDTAddr, idt); err != nil {
		return err
	}
	// The real TSS: the I/O bitmap lies beyond its limit, so every port
	// access from CPL 1 or 3 faults.
	tss := make([]byte, tssSize)
	binary.LittleEndian.PutUint16(tss[102:], tssSize)
	if err := m.OwnWrite(realTSSAddr, tss); err != nil {
		return err
	}
	if err := t.deriveGDT(); err != nil {
		return err
	}
	if err := m.E.SetMMR(unicorn.GDTR, unicorn.MMR{Base: realGDTAddr, Limit: gdtEntries*8 - 1}); err != nil {
		return err
	}
	if err := m.E.SetMMR(unicorn.IDTR, unicorn.MMR{Base: realIDTAddr, Limit: 256*8 - 1}); err != nil {
		return err
	}
	// A host-written TR must be of the available type (a busy one makes
	// Unicorn abort the process: SUBSTRATE.md).
	if err := m.E.SetMMR(unicorn.TR, unicorn.MMR{Selector: tssIndex << 3, Base: realTSSAddr, Limit: tssSize - 1, Flags: trFlags}); err != nil {
		return err
	}
	return t.dropToRing1(eflags&^x86.FlagIOPL | x86.FlagIF)
}

// SetRealGate installs vector vec of the real IDT as a 32-bit trap gate to
// sel:off with privilege dpl, so that the CPU delivers the vector straight
// to guest code with no exit (a paravirtual VMM's direct system-call gate:
// sel is the real, ring-compressed selector of the guest handler's code).
// A trap gate leaves the real IF alone, which a VMM that virtualizes IF
// keeps set. sel 0 restores the VMM's own entry for vec: the vector exits
// again.
func (t *VMM) SetRealGate(vec uint8, sel uint16, off uint32, dpl uint8) error {
	gate := x86.EncodeGate(x86.TypeTrapGate32, sel, off, dpl)
	if sel == 0 {
		gate = x86.EncodeGate(x86.TypeIntGate32, vmmCodeIndex<<3, vmmEntryAddr+uint32(vec), 3)
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], gate)
	if err := t.OwnWrite(realIDTAddr+uint32(vec)*8, b[:]); err != nil {
		return fmt.Errorf("trap: set real gate %#x: %w", vec, err)
	}
	return nil
}

// dropToRing1 moves the guest kernel from CPL 0 to CPL 1 with the real
// EFLAGS flags. The host cannot load SS with RPL 1 at CPL 0 (Unicorn
// checks the load like the CPU), so the VMM does what a CPU allows: it runs
// an iret from a stub in its region, once, with a frame returning to a
// second stub at CPL 1, and then points EIP at the guest's entry.
func (t *VMM) dropToRing1(flags uint32) error {
	m := t.Machine
	entry, esp := m.Reg(unicorn.EIP), m.Reg(unicorn.ESP)
	cs, ss, ds := uint16(m.Reg(unicorn.CS)), uint16(m.Reg(unicorn.SS)), uint16(m.Reg(unicorn.DS))
	frame := make([]byte, 20)
	for i, w := range []uint32{dropLand, uint32(t.ShadowSelector(cs)), flags, esp, uint32(t.ShadowSelector(ss))} {
		binary.LittleEndian.PutUint32(frame[4*i:], w)
	}
	if err := m.WriteMem(dropStack, frame); err != nil {
		return err
	}
	if err := m.OwnWrite(dropStub, []byte{0xCF}); err != nil { // iret
		return err
	}
	if err := m.OwnWrite(dropLand, []byte{0x90}); err != nil { // never executed: until stops here
		return err
	}
	m.SetReg(unicorn.ESP, dropStack)
	if err := m.E.Start(dropStub, dropLand, 0, 0); err != nil {
		return fmt.Errorf("iret to ring 1: %w", err)
	}
	if got := m.Reg(unicorn.CS); got&3 != 1 || m.Reg(unicorn.EIP) != dropLand {
		return fmt.Errorf("iret to ring 1 ended at %#x with CS %#x", m.Reg(unicorn.EIP), got)
	}
	// iret nulls data segments less privileged than... their cached DPL 0
	// is: reload them with the shadow selector (DPL 1, same level: allowed).
	for _, r := range []unicorn.Reg{unicorn.DS, unicorn.ES, unicorn.FS, unicorn.GS} {
		if err := m.E.SetReg(r, uint32(t.ShadowSelector(ds))); err != nil {
			return fmt.Errorf("load %v with RPL 1: %w", r, err)
		}
	}
	m.SetReg(unicorn.EIP, entry)
	return nil
}

// trFlags are the TR descriptor-cache attributes Unicorn expects: an
// available 32-bit TSS, present.
const trFlags = (x86.TypeTSS32Avail | 1<<7) << 8

// deriveGDT rebuilds the real GDT's guest part from the guest's GDT: the
// ring-compression shadow. Run at boot and whenever the guest loads a
// descriptor-table register (lgdt, ltr, lldt). Like a real CPU, segments
// already loaded keep their cached descriptors.
func (t *VMM) deriveGDT() error {
	n := (int(t.V.GDTR.Limit) + 1) / 8
	if n > guestMaxIndex+1 {
		return fmt.Errorf("guest GDT has %d entries; trap-and-emulate keeps the top %d for the VMM", n, gdtEntries-guestMaxIndex-1)
	}
	guestGDT := make([]byte, n*8)
	if err := t.ReadMem(t.V.GDTR.Base, guestGDT); err != nil {
		return err
	}
	shadow := make([]byte, (guestMaxIndex+1)*8)
	for i := 1; i < n; i++ {
		d := x86.Decode(guestGDT[i*8:])
		binary.LittleEndian.PutUint64(shadow[i*8:], t.ShadowDescriptor(d).Raw)
	}
	if err := t.OwnWrite(realGDTAddr, shadow); err != nil {
		return err
	}
	return t.deriveLDT() // ldt.go
}

// ShadowSelector gives a guest selector the RPL it really runs with: ring
// compression moves RPL 0 to RPL 1.
func (t *VMM) ShadowSelector(sel uint16) uint16 {
	if sel&^3 == 0 {
		return sel
	}
	if sel&3 == 0 {
		return sel | 1
	}
	return sel
}

// ShadowDescriptor compresses the guest's code and data segments into the
// rings it really runs in: DPL 0 becomes DPL 1 (the guest kernel's ring),
// and DPL 1 and 2 become DPL 2, so that the deprivileged kernel cannot use
// its ring-1 descriptors as if they were its own (a far jump to DPL-1 code
// or an SS load of a DPL-1 stack faults at real CPL 1 and the emulator
// raises the #GP the guest's CPU would; a data load stays allowed, as
// DPL >= CPL and RPL). Present or not: lar and friends see a not-present
// descriptor too, and a load faults with #NP either way.
func (t *VMM) ShadowDescriptor(d x86.Descriptor) x86.Descriptor {
	switch {
	case d.S && d.DPL == 0:
		d.Raw |= 1 << 45
		d.DPL = 1
	case d.S && d.DPL == 1:
		d.Raw = d.Raw&^(3<<45) | 2<<45
		d.DPL = 2
	}
	if !d.S && (d.Type == x86.TypeCallGate32 || d.Type == x86.TypeCallGate16) {
		// A far call or jmp through a gate must reach the VMM: the real CPU
		// would push the real CS (RPL 1) at the same level, and into ring 1
		// it would switch to the real TSS's stack. Not present, it raises
		// #NP(gate), which OnTrap emulates against the guest's own gate.
		d.Raw &^= 1 << 47
		d.Present = false
	}
	if !d.S && d.Type == x86.TypeTSS32Busy {
		// Guest TSSs are never loaded into the real TR; keep them available.
		d.Raw &^= 2 << 40
		d.Type = x86.TypeTSS32Avail
	}
	return d
}

// GuestView turns a real selector back into the one the guest believes it
// runs with (RPL 1 was RPL 0).
func GuestView(sel uint16) uint16 {
	if sel&3 == 1 {
		return sel &^ 3
	}
	return sel
}

// ---- exits ----

// SyncCPL makes the virtual CPL follow where the guest really was when it
// entered the VMM.
func (t *VMM) SyncCPL() {
	if t.Reg(unicorn.CS)&3 == 3 {
		t.V.CPL = 3
		// User code's virtual IF: what the guest kernel's iret to user mode
		// popped, when the VMM can know it (UserIF); under trap that iret
		// runs natively at CPL 1, unseen, and user code is taken to run
		// with interrupts enabled.
		t.V.IF = t.UserIF == nil || t.UserIF()
	} else {
		t.V.CPL = 0
	}
}

// OnTrap is the VMM's entry: the real IDT sent an event here.
func (t *VMM) OnTrap(tr vmm.Trap) {
	m := t.Machine
	t.SyncCPL()
	switch {
	case tr.External:
		m.Record(tr.Cause, vmm.MechTrap, tr.PC)
		if t.V.IF {
			t.Reflect(tr.Vector, 0, false, false, tr.RetEIP, tr.PC)
			return
		}
		t.pending = append(t.pending, tr.Vector)
		m.Complete(t.continueAt(tr.RetEIP))
	case tr.Vector == x86.VecGP && !tr.Soft && (t.V.CPL == 0 || t.userIO(tr)), t.taskIret(tr), t.farViaGate(tr):
		t.EmulateTrap(tr)
	case tr.Vector == x86.VecPF && !tr.Soft && t.shadowOn:
		t.onShadowFault(tr)
	default:
		if tr.Vector == x86.VecDB && !tr.Soft {
			t.V.DR[6] |= x86.DR6BS // TF's single-step trap (the only #DB the CPU raises)
		}
		m.Record(tr.Cause, vmm.MechTrap, tr.PC)
		t.Reflect(tr.Vector, tr.Code, tr.HasCode, tr.Soft, tr.RetEIP, tr.PC)
	}
}

// farViaGate reports the #NP a far call or jmp raises at a call gate
// (ShadowDescriptor leaves every shadow gate not present): the emulator
// performs the transfer through the guest's gate, or raises the fault the
// guest's own tables call for, at any CPL.
func (t *VMM) farViaGate(tr vmm.Trap) bool {
	if tr.Vector != x86.VecNP || tr.Soft {
		return false
	}
	inst, err := t.Decode(tr.PC)
	if err != nil {
		return false
	}
	return inst.Op == x86asm.LCALL || inst.Op == x86asm.LJMP
}

// userIO reports a #GP raised by port I/O in guest user code: the real
// TSS has no I/O bitmap, so every port faults, but the guest's own TSS may
// grant the port (the emulator checks its bitmap, as the CPU would).
func (t *VMM) userIO(tr vmm.Trap) bool {
	if tr.Code != 0 {
		return false
	}
	inst, err := t.Decode(tr.PC)
	if err != nil {
		return false
	}
	switch inst.Op {
	case x86asm.IN, x86asm.OUT, x86asm.INSB, x86asm.INSW, x86asm.INSD, x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD:
		return true
	}
	return false
}

// EmulateTrap handles a #GP raised by the deprivileged guest kernel: a
// privileged instruction, which the VMM emulates against the virtual CPU.
// tr.PC is the guest address of the instruction (a binary translator
// passes the guest PC of a callout's instruction).
func (t *VMM) EmulateTrap(tr vmm.Trap) { t.emulate(tr, vmm.MechTrap) }

// EmulateCallout is EmulateTrap for an instruction that translated code
// calls out for (a binary translator's callout at guest PC tr.PC): the same
// emulation, with the event recorded under mechanism callout.
func (t *VMM) EmulateCallout(tr vmm.Trap) { t.emulate(tr, vmm.MechCallout) }

func (t *VMM) emulate(tr vmm.Trap, mech vmm.Mechanism) {
	m := t.Machine
	if t.audited && t.auditPC == tr.PC {
		// It trapped after all (a segment load with an RPL-0 selector, say):
		// the audit counts only what runs without the VMM seeing it.
		t.unaudit(tr.PC)
	}
	if t.fastSyscall(tr.PC, mech) {
		return
	}
	t.cpu.pc = tr.PC
	out, err := t.emu.Emulate(t.cpu, &t.V, tr.PC)
	if err != nil {
		m.Record(tr.Cause, mech, tr.PC)
		m.Crash(tr.PC, "trap: the VMM cannot emulate this instruction: %v", err)
		return
	}
	t.mirrorIF()
	cause := out.Cause
	if out.Inst.Op == x86asm.HLT {
		cause = vmm.CauseHLT
	}
	m.Record(cause, mech, tr.PC)
	if m.Stopped().Kind != vmm.StopNone {
		m.Complete(t.continueAt(out.Next))
		return
	}
	switch {
	case out.Fault != nil:
		f := out.Fault
		ret := tr.PC
		if f.Soft {
			ret = out.Next
		}
		t.Reflect(f.Vector, f.Code, f.HasCode, f.Soft, ret, tr.PC)
	case out.Inner != nil:
		t.callInner(tr.PC, out.Inner)
	case out.Outer != nil:
		// lret to user code (a translator's callout): the real iret keeps
		// EFLAGS, the real IF set unless it mirrors the virtual one.
		flags := m.Reg(unicorn.EFLAGS)
		if !t.MirrorIF {
			flags |= x86.FlagIF
		}
		o := out.Outer
		if err := m.ReturnOuter(o.EIP, uint32(t.ShadowSelector(o.CS)), flags, o.ESP, uint32(t.ShadowSelector(o.SS))); err != nil {
			m.Crash(tr.PC, "trap: lret to user code: %v", err)
		}
	case out.Halt:
		t.halt(tr.PC, out.Next)
	case out.Shadow && t.V.IF && t.irqPending():
		// sti opened the virtual IF: one more instruction runs before the
		// pending interrupt, as on the CPU.
		t.shadow = true
		t.StepThen(t.continueAt(out.Next), func() {
			t.shadow = false
			if t.Stopped().Kind == vmm.StopNone {
				t.Resume(t.Reg(unicorn.EIP))
			}
		})
	default:
		t.Resume(out.Next)
		t.armFast(tr.PC, out, mech)
	}
}

// callInner completes an lcall from guest user code through a call gate
// into the guest kernel (Outcome.Inner): the machine's privilege switch
// lands at the gate's entry on the frame the emulator pushed, with EFLAGS
// unchanged (a call gate leaves them alone).
func (t *VMM) callInner(pc uint32, c *InnerCall) {
	m := t.Machine
	if f := t.loadKernelStack(); f != nil {
		m.Crash(pc, "trap: lcall through a call gate: %s (the VMM's privilege switch passes through it)", f.Why)
		return
	}
	handler := c.EIP
	if t.Redirect != nil {
		handler = t.Redirect(handler)
	}
	if f := m.TransferTo(vmm.Transfer{
		Handler: handler, TargetSel: t.ShadowSelector(c.CS), Target: t.ShadowDescriptor(c.CSDesc),
		NewFlags: m.Reg(unicorn.EFLAGS), EventPC: pc,
		NoFrame: true, InnerSS: t.ShadowSelector(c.SS), InnerESP: c.ESP,
	}); f != nil {
		m.Crash(pc, "trap: lcall through a call gate into the guest kernel: %s", f.Why)
	}
}

// mirrorIF makes the real EFLAGS.IF follow the virtual IF (MirrorIF).
func (t *VMM) mirrorIF() {
	if !t.MirrorIF {
		return
	}
	f := t.Reg(unicorn.EFLAGS)
	if (f&x86.FlagIF != 0) == t.V.IF {
		return
	}
	t.SetReg(unicorn.EFLAGS, f^x86.FlagIF)
}

// Resume continues the guest at next, injecting a pending interrupt first
// if the virtual IF now allows it.
func (t *VMM) Resume(next uint32) {
	if t.V.IF && len(t.pending) > 0 {
		vec := t.pending[0]
		t.pending = t.pending[1:]
		t.Reflect(vec, 0, false, false, next, next)
		return
	}
	if t.PendingIRQ() && t.V.IF && !t.shadow {
		// The guest's IF just opened on a waiting interrupt: the machine
		// delivers it through the real IDT, back into OnTrap, which reflects it.
		t.DeliverPendingIRQ(next)
		return
	}
	t.CompleteIO(t.continueAt(next))
}

// irqPending reports an interrupt waiting for the virtual IF.
func (t *VMM) irqPending() bool {
	return t.PendingIRQ() || len(t.pending) > 0
}

// continueAt is where the real CPU continues for guest address eip: the
// translated code under a binary translator when the guest kernel runs,
// else eip itself.
func (t *VMM) continueAt(eip uint32) uint32 {
	if t.Redirect == nil || t.Reg(unicorn.CS)&3 == 3 {
		return eip
	}
	return t.Redirect(eip)
}

// halt: the guest kernel executed hlt. With the virtual IF set the VMM
// waits for the next interrupt (skipping guest time to the timer); with
// it clear the guest can never wake.
func (t *VMM) halt(pc, next uint32) {
	m := t.Machine
	if !t.V.IF {
		m.Halt(vmm.Stop{Kind: vmm.StopHalted, Reason: "hlt with the virtual IF clear: the guest would sleep forever", PC: pc, Insn: "hlt"})
		return
	}
	if t.irqPending() {
		t.Resume(next)
		return
	}
	if reason := m.WaitForInterrupt(); reason != "" {
		m.Halt(vmm.Stop{Kind: vmm.StopHalted, Reason: reason, PC: pc, Insn: "hlt"})
		return
	}
	// The timer's interrupt is pending at the PIC: the machine delivers it
	// through the real IDT, back into onTrap, which reflects it.
	m.DeliverPendingIRQ(next)
}

// Reflect delivers an event into the guest's own handler through the
// guest's IDT, as the CPU would have at the guest's virtual privilege.
func (t *VMM) Reflect(vec uint8, code uint32, hasCode, soft bool, retEIP, pc uint32) {
	t.Escalating(vec, code, hasCode, soft, retEIP, pc, t.tryReflect)
}

// A DeliverFunc delivers one event into the guest, or returns the fault
// delivering it raised.
type DeliverFunc func(vec uint8, code uint32, hasCode, soft bool, retEIP, pc uint32) *vmm.DeliveryFault

// Escalating runs a delivery with the double-fault rule around it: a fault
// raised while delivering is delivered instead (#DF for two contributory
// faults), and a fault while delivering #DF is a triple fault, which ends
// the run. Reflection through the guest's IDT and paravirtual bounces
// through a registered trap table share it.
func (t *VMM) Escalating(vec uint8, code uint32, hasCode, soft bool, retEIP, pc uint32, try DeliverFunc) {
	for {
		f := try(vec, code, hasCode, soft, retEIP, pc)
		if f == nil {
			return
		}
		if f.NotModelled {
			t.Crash(pc, "delivering %s: %s", x86.VectorName(vec), f.Why)
			return
		}
		next, triple := x86.Escalate(vec, f.Vec)
		if triple {
			t.Crash(pc, "triple fault in the guest: delivering %s raised %v", x86.VectorName(vec), f)
			return
		}
		if soft {
			// A fault delivering int n is an ordinary exception of the int
			// instruction (int $0x0d through a DPL-0 gate from ring 3:
			// #GP(0x6a)), not a double fault.
			next = f.Vec
		}
		t.Record(vmm.CauseExc(next), vmm.MechTrap, pc)
		vec, code, hasCode, soft, retEIP = next, f.Code, true, false, pc
		if e, ok := x86.ExceptionFor(next); ok {
			hasCode = e.ErrorCode
		}
		if next == x86.VecDF {
			code = 0
		}
	}
}

func (t *VMM) tryReflect(vec uint8, code uint32, hasCode, soft bool, retEIP, pc uint32) *vmm.DeliveryFault {
	m := t.Machine
	gate, f := m.ReadGate(t.V.IDTR.Base, uint32(t.V.IDTR.Limit), vec)
	if f != nil && f.NotModelled {
		return t.deliverTask(vec, code, hasCode, soft, retEIP, pc) // a task gate: task.go
	}
	if f != nil {
		return f
	}
	idtCode := uint32(vec)*8 + 2
	if soft && gate.DPL < t.V.CPL {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: fmt.Sprintf("int $%#x from virtual CPL %d through a DPL-%d gate", vec, t.V.CPL, gate.DPL)}
	}
	if !gate.Present {
		return &vmm.DeliveryFault{Vec: x86.VecNP, Code: idtCode, Why: fmt.Sprintf("guest IDT entry %#x not present", vec)}
	}
	target, err := t.GuestDescriptor(gate.Selector)
	if err != nil || !target.IsCode() || x86.SelIndex(gate.Selector) == 0 {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: uint32(gate.Selector &^ 3), Why: fmt.Sprintf("guest gate %#x targets %#x, not a code segment", vec, gate.Selector)}
	}
	if !target.Present {
		return &vmm.DeliveryFault{Vec: x86.VecNP, Code: uint32(gate.Selector &^ 3), Why: "handler segment not present"}
	}
	newVCPL := target.DPL
	if target.IsConforming() {
		newVCPL = t.V.CPL
	}
	if newVCPL > t.V.CPL {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: uint32(gate.Selector &^ 3), Why: "handler less privileged than the interrupted code"}
	}
	realFlags := m.Reg(unicorn.EFLAGS)
	// The frame shows the guest its own view: its CS with RPL 0, its
	// virtual IF and IOPL. Returning with iret to an RPL-0 CS faults at CPL
	// 1, so the VMM sees (and emulates) every return into the guest kernel.
	frameFlags := realFlags&^(x86.FlagIF|x86.FlagIOPL) | uint32(t.V.IOPL)<<12
	if t.V.IF {
		frameFlags |= x86.FlagIF
	}
	if newVCPL < t.V.CPL {
		// From guest user to guest kernel: the inner stack is the guest
		// TSS's SS0:ESP0, which the real TSS supplies as SS1:ESP1.
		if f := t.loadKernelStack(); f != nil {
			return f
		}
		var b [4]byte
		if err := t.OwnRead(realTSSAddr+x86.TSSESP1, b[:]); err == nil {
			if f := t.prefault(binary.LittleEndian.Uint32(b[:])); f != nil {
				return f
			}
		}
	}
	shadow := t.ShadowDescriptor(target)
	realSel := t.ShadowSelector(gate.Selector&^3 | uint16(newVCPL))
	if gate.Type == x86.TypeIntGate32 {
		t.V.IF = false
	}
	t.V.CPL = newVCPL
	handler := gate.Offset
	if t.Redirect != nil && newVCPL != 3 {
		handler = t.Redirect(handler)
	}
	return m.TransferTo(vmm.Transfer{
		Vector: vec, Handler: handler, TargetSel: realSel, Target: shadow,
		FrameCS: uint32(GuestView(uint16(m.Reg(unicorn.CS)))), FrameFlags: frameFlags,
		RetEIP: retEIP, Code: code, HasCode: hasCode,
		NewFlags: t.entryFlags(realFlags),
		EventPC:  pc,
	})
}

// entryFlags is the real EFLAGS a transfer into the guest kernel starts
// with, from the real flags before it: TF, NT, RF and VM clear, and IF set
// for the VMM, or the virtual IF (as the transfer left it) under MirrorIF.
func (t *VMM) entryFlags(real uint32) uint32 {
	f := real&^(x86.FlagTF|x86.FlagNT|x86.FlagRF|x86.FlagVM) | x86.FlagIF
	if t.MirrorIF && !t.V.IF {
		f &^= x86.FlagIF
	}
	return f
}

// loadKernelStack copies the guest TSS's SS0:ESP0 into the real TSS's
// SS1:ESP1, where the CPU looks when it enters CPL 1.
func (t *VMM) loadKernelStack() *vmm.DeliveryFault {
	tss, err := t.GuestDescriptor(t.V.TR)
	if err != nil || x86.SelIndex(t.V.TR) == 0 || tss.Limit < 0x67 {
		return &vmm.DeliveryFault{Vec: x86.VecTS, Code: uint32(t.V.TR &^ 3), Why: "the guest has loaded no 32-bit TSS to supply its kernel stack"}
	}
	var b [8]byte
	if err := t.ReadMem(tss.Base+x86.TSSESP0, b[:]); err != nil {
		return &vmm.DeliveryFault{Vec: x86.VecTS, Code: uint32(t.V.TR &^ 3), Why: err.Error()}
	}
	esp0 := binary.LittleEndian.Uint32(b[0:])
	ss0 := binary.LittleEndian.Uint16(b[4:])
	binary.LittleEndian.PutUint32(b[0:], esp0)
	binary.LittleEndian.PutUint32(b[4:], uint32(t.ShadowSelector(ss0)))
	if err := t.OwnWrite(realTSSAddr+x86.TSSESP1, b[:]); err != nil {
		t.Fail(err)
	}
	return nil
}

// GuestDescriptor reads a descriptor from the guest's own GDT (the one
// it loaded with lgdt, or registered by hypercall).
func (t *VMM) GuestDescriptor(sel uint16) (x86.Descriptor, error) {
	off := uint32(x86.SelIndex(sel)) * 8
	if x86.SelTI(sel) || off+7 > uint32(t.V.GDTR.Limit) {
		return x86.Descriptor{}, fmt.Errorf("selector %#x outside the guest GDT", sel)
	}
	var b [8]byte
	if err := t.ReadMem(t.V.GDTR.Base+off, b[:]); err != nil {
		return x86.Descriptor{}, err
	}
	return x86.Decode(b[:]), nil
}

// ---- Platform: what the emulator asks of the VMM ----

func (t *VMM) In(port uint16, size int) uint32 { return t.DeviceIn(port, size) }
func (t *VMM) Out(port uint16, size int, v uint32) {
	t.DeviceOut(t.cpu.pc, port, size, v)
}
func (t *VMM) CPUID(leaf, sub uint32) [4]uint32 { return vmm.CPUID(leaf, sub) }
func (t *VMM) GDTLoaded() {
	if err := t.deriveGDT(); err != nil {
		t.Crash(t.cpu.pc, "trap: lgdt: %v", err)
	}
}

// IDTLoaded: the real IDT stays the VMM's; the guest's is read at reflection.
func (t *VMM) IDTLoaded() {}
func (t *VMM) TRLoaded()  { t.GDTLoaded() }
func (t *VMM) LDTLoaded() { t.GDTLoaded() }

// CRWritten: under trap the real MMU follows the guest's paging through
// shadow page tables (shadow.go). The strategies built on trap manage page
// tables their own way and refuse guest paging here.
func (t *VMM) CRWritten(n int, old uint32) {
	t.mirrorFPUControls(n)
	if !t.shadowOK {
		if n == 0 && t.V.CR0&x86.CR0PG != 0 {
			t.Crash(t.cpu.pc, "%s: the guest enabled paging; memory virtualization is not implemented for this strategy yet (native, trap and bt page)", t.name)
		}
		return
	}
	if t.shadowOn && (n == 0 && (old^t.V.CR0)&x86.CR0WP != 0 || n == 4 && (old^t.V.CR4)&(x86.CR4PSE|x86.CR4SMEP|x86.CR4PGE|x86.CR4PAE) != 0) {
		// The rules of a walk changed (write protection for the kernel,
		// 4 MiB pages, SMEP, global pages, PAE): every shadow entry was
		// filled under the old ones, as the CPU's TLB entries were.
		t.sh.Flush()
	}
	if n == 0 || n == 3 || n == 4 {
		t.syncPaging()
		if t.PagingChanged != nil {
			t.PagingChanged()
		}
	}
}

// The FPU's control bits are the guest's alone: the VMM never uses the
// FPU, so the real CR0's MP, EM, TS and NE and the real CR4's OSFXSR and
// OSXMMEXCPT follow the virtual ones. A kernel's lazy FPU switching then
// takes its #NM from the CPU (reflected like any exception) and its clts
// (emulated) clears the real TS; SSE runs once the guest enabled it.
const (
	fpuCR0 = x86.CR0MP | x86.CR0EM | x86.CR0TS | x86.CR0NE
	fpuCR4 = x86.CR4OSFXSR | x86.CR4OSXMMEXCPT
)

func (t *VMM) mirrorFPUControls(n int) {
	reg, mask, virt := unicorn.CR0, uint32(fpuCR0), t.V.CR0
	switch n {
	case 0:
	case 4:
		reg, mask, virt = unicorn.CR4, fpuCR4, t.V.CR4
	default:
		return
	}
	real := t.Reg(reg)
	if want := real&^mask | virt&mask; want != real {
		t.Machine.SetReg(reg, want)
	}
}

// InvalidatePage: invlpg drops the shadow's entry for addr.
func (t *VMM) InvalidatePage(addr uint32) {
	if t.shadowOn {
		t.sh.Invlpg(addr)
		t.dropAliases()
		t.flushTLB()
		if addr >= vmm.VMMBase {
			t.refreshOverlay()
		}
		if t.MappingsChanged != nil {
			t.MappingsChanged()
		}
	}
}

// ---- the x86 hole, reported ----

// sweepSensitive finds the sensitive-but-unprivileged instructions in the
// image: they run without trapping and see the VMM's state, not the guest's.
func (t *VMM) sweepSensitive() {
	t.sensitive = map[string]int{}
	for _, seg := range t.Img.Segments {
		for off := 0; off < len(seg.Data); {
			inst, err := x86asm.Decode(seg.Data[off:], 32)
			if err != nil || inst.Len == 0 {
				off++
				continue
			}
			if c := Classify(inst); c.Hole() {
				t.sensitive[c.Cause]++
			}
			off += inst.Len
		}
	}
}

// installAudit counts, by mnemonic, every sensitive-but-unprivileged
// instruction executed without trapping (a Go code hook on every guest
// instruction: slow, and only with --audit).
func (t *VMM) installAudit() error {
	t.audit = map[string]uint64{}
	t.auditCls = map[uint32]string{}
	_, err := t.E.HookCode(0, uint64(t.Cfg.MemSize)-1, func(addr uint64, size uint32) {
		pc := uint32(addr)
		cause, ok := t.auditCls[pc]
		if !ok {
			if inst, err := t.Decode(pc); err == nil {
				if c := Classify(inst); c.Hole() {
					cause = c.Cause
				}
			}
			t.auditCls[pc] = cause
		}
		t.auditPC, t.audited = pc, cause != ""
		if cause != "" {
			t.audit[cause]++
		}
	})
	return err
}

func (t *VMM) unaudit(pc uint32) {
	cause := t.auditCls[pc]
	if t.audit[cause]--; t.audit[cause] == 0 {
		delete(t.audit, cause)
	}
	t.audited = false
}

// ShadowCounters are the shadow MMU's counts once the guest has paged
// (none before).
func (t *VMM) ShadowCounters() map[string]uint64 {
	if t.sh == nil || t.sh.Stats.CacheMisses == 0 {
		return nil
	}
	st := t.sh.Stats
	c := map[string]uint64{
		"shadow/cache-hits":   st.CacheHits,
		"shadow/cache-misses": st.CacheMisses,
		"shadow/hidden":       st.Hidden,
		"shadow/true":         st.True,
		"shadow/pt-writes":    st.PTWrites,
		"shadow/invlpg":       st.Invlpg,
		"shadow/flushes":      st.Flushes,
	}
	for name, n := range map[string]uint64{
		"shadow/protected-writes": st.ProtectedWrites,
		"shadow/vmm-aliases":      st.VMMAliases,
		"shadow/device-pages":     st.DevicePages,
		"shadow/unshadowed":       st.Unshadowed,
	} {
		if n > 0 {
			c[name] = n
		}
	}
	return c
}

// Result adds the x86-hole report to the machine's result.
func (t *VMM) Result() *vmm.Result {
	r := t.Machine.Result()
	for k, v := range t.ShadowCounters() {
		r.Counters[k] = v
	}
	for cause, n := range t.audit {
		r.Counters["audit/"+cause] = n
	}
	if note := t.OverlapNote(); note != "" {
		r.Notes = append(r.Notes, note)
	}
	if len(t.sensitive) > 0 {
		var parts []string
		for c, n := range t.sensitive {
			parts = append(parts, fmt.Sprintf("%s×%d", c, n))
		}
		sort.Strings(parts)
		how := "run with --audit to count executions"
		if t.Cfg.Audit {
			how = "the audit/ counters give the executions"
		}
		r.Notes = append(r.Notes, fmt.Sprintf(
			"Popek-Goldberg: the image contains sensitive instructions that do not trap at CPL 1 (%s); what they show is the VMM's real state, so output depending on them can differ from bare metal (%s)",
			strings.Join(parts, ", "), how))
	}
	return r
}

// Virtual is the guest's view: the VCPU over the real registers.
func (t *VMM) Virtual() (vmm.CPUState, bool) {
	s := t.Real()
	s.EFLAGS &^= x86.FlagIF | x86.FlagIOPL
	if t.V.IF {
		s.EFLAGS |= x86.FlagIF
	}
	s.EFLAGS |= uint32(t.V.IOPL) << 12
	for i := range s.Seg {
		s.Seg[i] = GuestView(s.Seg[i])
	}
	s.CR0, s.CR2, s.CR3, s.CR4 = t.V.CR0, t.V.CR2, t.V.CR3, t.V.CR4
	s.GDTBase, s.GDTLimit = t.V.GDTR.Base, t.V.GDTR.Limit
	s.IDTBase, s.IDTLimit = t.V.IDTR.Base, t.V.IDTR.Limit
	s.TR, s.LDTR, s.CPL = t.V.TR, t.V.LDTR, t.V.CPL
	if s.Seg[1]&3 == 3 {
		s.CPL = 3
	}
	return s, true
}

// RunToExit runs until the next exit.
func (t *VMM) RunToExit() (vmm.Stop, error) {
	return t.RunUntil(func(e vmm.Event) bool { return e.Mech.IsExit() })
}

// ---- descriptor Accessed bits ----

// onProtWrite handles the one store the CPU makes into the VMM's read-only
// tables: loading a segment whose descriptor has the Accessed bit clear
// sets it (a 4-byte store of the descriptor's high word with bit 8 set).
// The guest's own descriptor gets the bit, as on a real CPU, and so does
// the shadow, so later loads store nothing. Anything else is refused.
func (t *VMM) onProtWrite(addr uint32, size int, value uint64) bool {
	if addr >= realLDTAddr {
		return t.onLDTWrite(addr, size, value) // ldt.go
	}
	off := addr - realGDTAddr
	if addr < realGDTAddr || off >= (guestMaxIndex+1)*8 || off%8 != 4 || size != 4 {
		return false
	}
	var hi [4]byte
	if err := t.OwnRead(addr, hi[:]); err != nil {
		return false
	}
	old := binary.LittleEndian.Uint32(hi[:])
	if uint32(value) != old|1<<8 || old&(1<<12) == 0 { // only A, of a code or data descriptor
		return false
	}
	if err := t.MarkAccessed(uint16(off / 8)); err != nil {
		t.Fail(err)
	}
	return true
}

// MarkAccessed sets the Accessed bit of GDT entry index in the guest's
// table (when the guest's GDTR covers it) and in the shadow.
func (t *VMM) MarkAccessed(index uint16) error {
	off := uint32(index) * 8
	if off+7 <= uint32(t.V.GDTR.Limit) {
		var b [1]byte
		if err := t.ReadMem(t.V.GDTR.Base+off+5, b[:]); err == nil && b[0]&0x10 != 0 && b[0]&1 == 0 {
			if err := t.WriteMem(t.V.GDTR.Base+off+5, []byte{b[0] | 1}); err != nil {
				return fmt.Errorf("trap: set the Accessed bit of guest descriptor %d: %w", index, err)
			}
		}
	}
	var b [1]byte
	if err := t.OwnRead(realGDTAddr+off+5, b[:]); err != nil {
		return err
	}
	if b[0]&0x10 != 0 && b[0]&1 == 0 {
		if err := t.OwnWrite(realGDTAddr+off+5, []byte{b[0] | 1}); err != nil {
			return fmt.Errorf("trap: set the Accessed bit of shadow descriptor %d: %w", index, err)
		}
	}
	return nil
}
