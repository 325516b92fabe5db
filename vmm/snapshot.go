package vmm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"virtsim/disk"
	"virtsim/guest"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
	"virtsim/vmstate"
)

// Saving and restoring whole VMs (package vmstate): the machine's part —
// RAM, devices, guest time, what the run produced — and the architectural
// CPU of the bare machine. A strategy adds its virtual CPU: SaveState of
// an instance gives the guest's view, LoadState puts a fresh instance of
// any strategy into it.

// Snapshotter is an instance whose VM can be saved at a pause.
type Snapshotter interface {
	SaveState() (*vmstate.State, error)
}

// Restorer is a freshly booted instance (same image and configuration)
// that can take over a saved VM.
type Restorer interface {
	LoadState(*vmstate.State) error
}

// Pauser is an instance that can pause at an instruction count.
type Pauser interface {
	PauseAt(n uint64)
}

// MigratedMSRs are the MSRs a saved CPU carries: those of the CPU model
// (MSRs) a 32-bit guest can change and observe. The time-stamp
// counter is not among them: under Unicorn it is the host's.
var MigratedMSRs = []uint32{0x174, 0x175, 0x176, 0x277}

// ImageID identifies an image by name and a digest of what it loads.
func ImageID(img *guest.Image, pv bool) vmstate.ImageID {
	h := sha256.New()
	var w [12]byte
	binary.LittleEndian.PutUint32(w[0:], img.Entry)
	h.Write(w[:4])
	for _, s := range img.Segments {
		binary.LittleEndian.PutUint32(w[0:], s.Addr)
		binary.LittleEndian.PutUint32(w[4:], s.MemSize)
		binary.LittleEndian.PutUint32(w[8:], uint32(len(s.Data)))
		h.Write(w[:])
		h.Write(s.Data)
	}
	return vmstate.ImageID{Name: img.Name, SHA256: hex.EncodeToString(h.Sum(nil)), PV: pv}
}

// ---- pausing at an instruction count ----

// PauseAt makes Run (or RunUntil) return paused at the first instruction
// boundary at which the instance has counted at least n instructions
// (guest code plus, under bt, its translation cache) and the guest's state
// is whole: no delivery in flight, no single-stepping for an interrupt
// window, and the strategy's SafePoint agrees. It needs a counting run.
//
// The cut is made with the instruction budget: the counter stops the
// engine before the first instruction beyond it. Guest time counts blocks,
// and the restart after that stop enters a block the uninterrupted run was
// already inside (one count too many), so the clock is set back by one at
// every such stop: time, and so every timer interrupt, stays exactly where
// an uninterrupted run has it.
func (m *Machine) PauseAt(n uint64) { m.pauseAt = n }

func (m *Machine) totalCount() uint64 {
	n := m.counter.Count()
	if m.ExtraCounter != nil {
		n += m.ExtraCounter.Count()
	}
	return n
}

// atSafePoint: the guest's whole state is in the CPU, RAM and the devices.
func (m *Machine) atSafePoint() bool {
	pc := m.pc()
	if m.gate != nil || m.stepThen != nil || m.irqWindow || m.mmio != nil || m.resume || (inVMM(pc) && !m.inTC(pc)) {
		return false
	}
	return m.SafePoint == nil || m.SafePoint(pc)
}

// pauseReached reports (before a free run) that the pause point is here.
func (m *Machine) pauseReached() bool {
	if m.pauseAt == 0 || m.counter == nil || m.totalCount() < m.pauseAt || !m.atSafePoint() {
		return false
	}
	m.pauseAt = 0
	m.pause = true
	return true
}

// armPause sets the budgets so that the next free run stops at or before
// the pause point: with two counters (bt's translation cache), each gets
// half of what remains, so their sum cannot overshoot; past the point (not
// at a safe point yet) one instruction at a time. With two counters the
// instruction budget is such a point too: it counts both (one counter's
// budget alone would let a guest kernel spin in the TC forever).
func (m *Machine) armPause() {
	if m.counter == nil {
		return
	}
	target := m.pauseAt
	if m.ExtraCounter != nil && (target == 0 || target > m.Cfg.InsnBudget) {
		target = m.Cfg.InsnBudget
	}
	if target == 0 {
		return
	}
	c := m.counter.Count()
	var mainB, extraB uint64
	switch total := m.totalCount(); {
	case total < target:
		r := target - total
		mainB = c + r
		if m.ExtraCounter != nil {
			// The odd instruction goes to the counter of the code the CPU
			// stands in: with r = 1 a budget of nothing there would stop
			// every run before its first instruction, for ever.
			mainB, extraB = c+r-r/2, m.ExtraCounter.Count()+r/2
			if m.inTC(m.pc()) {
				mainB, extraB = c+r/2, m.ExtraCounter.Count()+r-r/2
			}
		}
	case m.ExtraCounter != nil:
		// One instruction, counted by the counter of the code the CPU
		// stands in (the other's budget is used up).
		mainB, extraB = c+1, m.ExtraCounter.Count()
		if m.inTC(m.pc()) {
			mainB, extraB = c, m.ExtraCounter.Count()+1
		}
	default:
		mainB = c + 1
	}
	m.counter.SetBudget(min(mainB, m.Cfg.InsnBudget))
	if m.ExtraCounter != nil {
		m.ExtraCounter.SetBudget(extraB)
	}
	m.pauseArmed = true
}

// disarmPause puts the budgets back after a run; it reports whether a
// pause budget (not the instruction budget) stopped the run.
func (m *Machine) disarmPause() bool {
	if !m.pauseArmed {
		return false
	}
	m.pauseArmed = false
	stopped := false
	if m.counter.Exhausted() && m.counter.Count() < m.Cfg.InsnBudget {
		stopped = true
		m.counter.SetBudget(m.Cfg.InsnBudget)
	} else if !m.counter.Exhausted() {
		m.counter.SetBudget(m.Cfg.InsnBudget)
	}
	if m.ExtraCounter != nil {
		if m.ExtraCounter.Exhausted() {
			stopped = true
		}
		m.ExtraCounter.SetBudget(0)
	}
	if stopped && m.clock != nil && m.clock.Now() > 0 {
		m.clock.Set(m.clock.Now() - 1) // the restart re-enters this block
	}
	return stopped
}

// ---- saving ----

// SaveMachine records the VM with cpu as its architectural CPU and counts
// as what the run has produced (the instance's Result, which includes a
// strategy's own events). It must be called at a pause (PauseAt).
func (m *Machine) SaveMachine(cpu vmstate.CPU, res *Result, pv bool) (*vmstate.State, error) {
	if !m.atSafePoint() {
		return nil, fmt.Errorf("vmm: save: the machine is not at a whole-state boundary (pc %#x)", m.pc())
	}
	st := &vmstate.State{
		Guest: m.res.Guest, Image: ImageID(m.Img, pv), Args: m.Cfg.Args, MemSize: m.Cfg.MemSize,
		Strategy: m.res.Strategy, CPU: cpu, Devices: map[string]vmstate.Fields{},
		Instructions: res.Instructions, Serial: []byte(res.Serial),
	}
	// The FPU is the real one under every Unicorn strategy: no VMM uses it.
	fpu, err := m.saveFPU()
	if err != nil {
		return nil, err
	}
	st.CPU.FPU = fpu
	if m.counter != nil {
		st.Machine.MainCount = m.counter.Count()
		if m.ExtraCounter != nil {
			st.Machine.ExtraCount = m.ExtraCounter.Count()
		}
	}
	st.Legs = append(append([]vmstate.Leg(nil), m.legs...), m.currentLeg(res))
	for k, n := range res.Counts {
		st.Counts = append(st.Counts, vmstate.Count{Cause: k.Cause, Mech: k.Mech.String(), N: n})
	}
	st.Counters = res.Counters
	if m.clock != nil {
		st.Machine.Clock, st.Machine.Now, st.Machine.Deadline, st.Machine.WatchIF = true, m.clock.Now(), m.clock.Deadline(), m.clock.Watching()
	}
	st.Machine.IRQWindow, st.Machine.InShadow, st.Machine.WantClock = m.irqWindow, m.inShadow, m.wantClock
	st.Machine.IOSites, st.Machine.MMIOSites = sortedSites(m.ioSites), sortedSites(m.mmioSites)
	st.Machine.SafetyNetIO = m.SafetyNetIO
	st.Machine.DebugRegs = m.dr
	// The serial output is State.Serial; the device keeps its registers.
	out := m.Serial.Output
	m.Serial.Output = bytes.Buffer{}
	defer func() { m.Serial.Output = out }()
	for name, dev := range m.devices() {
		f, err := vmstate.Capture(dev)
		if err != nil {
			return nil, fmt.Errorf("vmm: save %s: %w", name, err)
		}
		st.Devices[name] = f
	}
	if !m.saveNoRAM {
		st.RAMData = make([]byte, m.Cfg.MemSize)
		if err := m.E.MemRead(0, st.RAMData); err != nil {
			return nil, fmt.Errorf("vmm: save RAM: %w", err)
		}
	}
	if d := m.Disks.ATA.Disk; d != nil {
		n := d.Sectors() * disk.SectorSize
		if n > maxSavedDisk {
			return nil, fmt.Errorf("vmm: save: the disk is %d MiB; a saved VM carries at most %d MiB", n>>20, maxSavedDisk>>20)
		}
		st.DiskData = make([]byte, n)
		if _, err := d.ReadAt(st.DiskData, 0); err != nil {
			return nil, fmt.Errorf("vmm: save the disk: %w", err)
		}
	}
	return st, nil
}

const maxSavedDisk = 256 << 20

func (m *Machine) currentLeg(res *Result) vmstate.Leg {
	return vmstate.Leg{
		Strategy:     m.res.Strategy,
		Instructions: res.Instructions - m.legBase.Instructions,
		Exits:        res.Counts.Exits() - m.legBase.Exits,
		Events:       res.Counts.Total() - m.legBase.Events,
	}
}

// Legs are the stretches of this run under each strategy, when it was
// restored from a saved VM (empty otherwise).
func (m *Machine) Legs(res *Result) []vmstate.Leg {
	if len(m.legs) == 0 {
		return nil
	}
	return append(append([]vmstate.Leg(nil), m.legs...), m.currentLeg(res))
}

func sortedSites(s map[uint32]bool) []uint32 {
	out := make([]uint32, 0, len(s))
	for pc := range s {
		out = append(out, pc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// devices names the machine's device models.
func (m *Machine) devices() map[string]any {
	return map[string]any{
		"pit": m.PIT, "pic": m.PIC, "com1": m.Serial, "lapic": m.LAPIC, "ioapic": m.IOAPIC,
		"rtc": m.RTC, "kbc": m.KBC, "pci": m.PCI, "sysctlb": m.sysCtlB, "debug-exit": m.Exit, "post": m.Post,
		"ata": m.Disks.ATA, "blkring": m.Disks.Ring, "blkring-ports": m.Disks.RingPorts,
	}
}

// NativeCPU is the CPU state of the bare machine: the real registers are
// the guest's.
func (m *Machine) NativeCPU() (vmstate.CPU, error) {
	var c vmstate.CPU
	regs := []unicorn.Reg{unicorn.EAX, unicorn.ECX, unicorn.EDX, unicorn.EBX, unicorn.ESP, unicorn.EBP, unicorn.ESI, unicorn.EDI,
		unicorn.EIP, unicorn.EFLAGS, unicorn.ES, unicorn.CS, unicorn.SS, unicorn.DS, unicorn.FS, unicorn.GS,
		unicorn.CR0, unicorn.CR2, unicorn.CR3, unicorn.CR4, unicorn.DR0, unicorn.DR1, unicorn.DR2, unicorn.DR3, unicorn.DR6, unicorn.DR7}
	v := make([]uint32, len(regs))
	if err := m.E.Regs(regs, v); err != nil {
		return c, fmt.Errorf("vmm: read the CPU: %w", err)
	}
	c.EAX, c.ECX, c.EDX, c.EBX, c.ESP, c.EBP, c.ESI, c.EDI, c.EIP, c.EFLAGS = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]
	for i := range c.Seg {
		c.Seg[i] = uint16(v[10+i])
	}
	c.CR0, c.CR2, c.CR3, c.CR4 = v[16], v[17], v[18], v[19]
	c.DR = [8]uint32{v[20], v[21], v[22], v[23], v[24], v[25], v[24], v[25]}
	c.CPL = uint8(c.Seg[vmstate.CS] & 3)
	for _, r := range []struct {
		reg unicorn.Reg
		dtr *vmstate.DTR
		sel *uint16
	}{{unicorn.GDTR, &c.GDTR, nil}, {unicorn.IDTR, &c.IDTR, nil}, {unicorn.LDTR, nil, &c.LDTR}, {unicorn.TR, nil, &c.TR}} {
		mmr, err := m.E.MMR(r.reg)
		if err != nil {
			return c, fmt.Errorf("vmm: read %v: %w", r.reg, err)
		}
		if r.dtr != nil {
			*r.dtr = vmstate.DTR{Base: mmr.Base, Limit: uint16(mmr.Limit)}
		} else {
			*r.sel = mmr.Selector
		}
	}
	c.MSR = map[uint32]uint64{}
	for _, idx := range MigratedMSRs {
		v, err := m.E.MSR(idx)
		if err != nil {
			return c, fmt.Errorf("vmm: read MSR %#x: %w", idx, err)
		}
		c.MSR[idx] = v
	}
	return c, nil
}

// fpuWords are the x87 words a saved FPU carries, by where they go.
func fpuWords(f *vmstate.FPU) []struct {
	reg unicorn.Reg
	v   *uint16
} {
	return []struct {
		reg unicorn.Reg
		v   *uint16
	}{{unicorn.FPCW, &f.FCW}, {unicorn.FPSW, &f.FSW}, {unicorn.FPTAG, &f.FTW}}
}

// saveFPU reads the x87 and SSE state.
func (m *Machine) saveFPU() (*vmstate.FPU, error) {
	f := &vmstate.FPU{}
	var b [16]byte
	for _, w := range fpuWords(f) {
		if err := m.E.RegBytes(w.reg, &b); err != nil {
			return nil, fmt.Errorf("vmm: save the FPU: %w", err)
		}
		*w.v = binary.LittleEndian.Uint16(b[:])
	}
	for i := range f.ST {
		if err := m.E.RegBytes(unicorn.FP0+unicorn.Reg(i), &b); err != nil {
			return nil, fmt.Errorf("vmm: save the FPU: %w", err)
		}
		copy(f.ST[i][:], b[:10])
	}
	for i := range f.XMM {
		if err := m.E.RegBytes(unicorn.XMM0+unicorn.Reg(i), &b); err != nil {
			return nil, fmt.Errorf("vmm: save the FPU: %w", err)
		}
		f.XMM[i] = b
	}
	mx, err := m.E.Reg(unicorn.MXCSR)
	if err != nil {
		return nil, fmt.Errorf("vmm: save the FPU: %w", err)
	}
	f.MXCSR = mx
	return f, nil
}

// loadFPU puts a saved x87 and SSE state into the real FPU. The registers
// go first: writing the status word sets the stack top, and the tag word
// last says which registers hold values.
func (m *Machine) loadFPU(f *vmstate.FPU) error {
	var b [16]byte
	for i := range f.ST {
		b = [16]byte{}
		copy(b[:], f.ST[i][:])
		if err := m.E.SetRegBytes(unicorn.FP0+unicorn.Reg(i), &b); err != nil {
			return fmt.Errorf("vmm: restore the FPU: %w", err)
		}
	}
	for i := range f.XMM {
		b = f.XMM[i]
		if err := m.E.SetRegBytes(unicorn.XMM0+unicorn.Reg(i), &b); err != nil {
			return fmt.Errorf("vmm: restore the FPU: %w", err)
		}
	}
	for _, w := range fpuWords(f) {
		b = [16]byte{}
		binary.LittleEndian.PutUint16(b[:], *w.v)
		if err := m.E.SetRegBytes(w.reg, &b); err != nil {
			return fmt.Errorf("vmm: restore the FPU: %w", err)
		}
	}
	if err := m.E.SetReg(unicorn.MXCSR, f.MXCSR); err != nil {
		return fmt.Errorf("vmm: restore the FPU: %w", err)
	}
	return nil
}

// ---- restoring ----

// LoadMachine puts the saved RAM, devices, guest time and counts into this
// freshly booted machine (the same image and RAM size). The CPU is the
// strategy's to load (LoadNativeCPU, or a VMM's own).
func (m *Machine) LoadMachine(st *vmstate.State, pv bool) error {
	if st.MemSize != m.Cfg.MemSize {
		return fmt.Errorf("vmm: restore: the saved VM has %d MiB of RAM, this one %d MiB (--mem)", st.MemSize>>20, m.Cfg.MemSize>>20)
	}
	if id := ImageID(m.Img, pv); id.SHA256 != st.Image.SHA256 {
		return fmt.Errorf("vmm: restore: the saved VM ran image %q (%s...), not %q (%s...)", st.Image.Name, st.Image.SHA256[:12], id.Name, id.SHA256[:12])
	}
	if m.counter == nil {
		return fmt.Errorf("vmm: restore needs a counting run")
	}
	if err := m.E.MemWrite(0, st.RAMData); err != nil {
		return fmt.Errorf("vmm: restore RAM: %w", err)
	}
	if st.CPU.FPU != nil {
		if err := m.loadFPU(st.CPU.FPU); err != nil {
			return err
		}
	}
	if err := m.DropTranslations(0, uint64(m.Cfg.MemSize)); err != nil {
		return err
	}
	for name, dev := range m.devices() {
		f, ok := st.Devices[name]
		if !ok {
			return fmt.Errorf("vmm: restore: the saved VM has no state for device %s", name)
		}
		if err := vmstate.Apply(dev, f); err != nil {
			return fmt.Errorf("vmm: restore %s: %w", name, err)
		}
	}
	for name := range st.Devices {
		if _, ok := m.devices()[name]; !ok {
			return fmt.Errorf("vmm: restore: the saved VM has a device %q this machine lacks", name)
		}
	}
	m.Serial.Output.Reset()
	m.Serial.Output.Write(st.Serial)
	if st.DiskData != nil {
		d := disk.NewMem(st.DiskData)
		m.Disks.ATA.Disk, m.Disks.Ring.Disk = d, d
	}
	counts := Counts{}
	for _, c := range st.Counts {
		mech, err := ParseMechanism(c.Mech)
		if err != nil {
			return fmt.Errorf("vmm: restore counts: %w", err)
		}
		counts[Key{c.Cause, mech}] += c.N
	}
	m.res.Counts = counts
	m.legs = append([]vmstate.Leg(nil), st.Legs...)
	m.legBase = legBase{Instructions: st.Instructions, Exits: counts.Exits(), Events: counts.Total()}
	if m.ExtraCounter != nil {
		m.counter.SetCount(st.Machine.MainCount)
		m.ExtraCounter.SetCount(st.Machine.ExtraCount)
	} else {
		m.counter.SetCount(st.Machine.MainCount + st.Machine.ExtraCount)
	}
	mc := st.Machine
	if mc.Clock {
		if err := m.startClock(); err != nil {
			return err
		}
		m.clock.Set(mc.Now)
		m.clock.SetDeadline(mc.Deadline)
		m.clock.WatchIF(mc.WatchIF)
	}
	m.irqWindow, m.inShadow, m.wantClock, m.SafetyNetIO = mc.IRQWindow, mc.InShadow, mc.WantClock, mc.SafetyNetIO
	m.dr = mc.DebugRegs
	for _, pc := range mc.IOSites {
		m.addSite(pc)
	}
	for _, pc := range mc.MMIOSites {
		if err := m.hookMMIOSite(pc); err != nil {
			return err
		}
	}
	if m.hookErr != nil {
		return m.hookErr
	}
	return nil
}

// legBase is where the current leg began.
type legBase struct{ Instructions, Exits, Events uint64 }

// Machine-region addresses of the restore's privilege change (free pages
// of the trampoline area: deliver.go, paging.go).
const (
	enterStub  = machineBase + 0x1A000 // iret
	enterLand  = machineBase + 0x1A010 // where it returns to: Start's until
	enterStack = machineBase + 0x1A100 // its frame
)

// EnterSegments loads the real CPU's segment registers with the given
// selectors (ES CS SS DS FS GS) from the descriptor tables now loaded,
// and sets EFLAGS. The host cannot raise the privilege level and Unicorn
// checks CS and SS writes as the CPU checks loads, so the CPU does it: an
// iret from the machine's region at the current level returns to the new
// CS (and, to an outer ring, SS:ESP); the data segments follow as loads
// the new level allows. EIP is the caller's to set afterwards.
func (m *Machine) EnterSegments(seg [6]uint16, eflags, esp uint32) error {
	cs, ss := seg[vmstate.CS], seg[vmstate.SS]
	target, err := m.Descriptor(cs)
	if err != nil {
		return fmt.Errorf("vmm: restore CS %#x: %w", cs, err)
	}
	land := enterLand - target.Base
	// NT would make iret a task return and VM a return to virtual-8086
	// mode: both are set with the full EFLAGS afterwards, if at all.
	fl := eflags &^ (x86.FlagNT | x86.FlagVM)
	frame := []uint32{land, uint32(cs), fl}
	outer := cs&3 != uint16(m.reg(unicorn.CS)&3)
	if outer {
		frame = append(frame, esp, uint32(ss))
	}
	var b [20]byte
	if err := m.E.MemWrite(enterStack, words(b[:0], frame)); err != nil {
		return fmt.Errorf("vmm: restore: %w", err)
	}
	if err := m.E.MemWrite(enterStub, []byte{0xCF}); err != nil { // iret
		return fmt.Errorf("vmm: restore: %w", err)
	}
	ssBase := m.segBase(uint16(m.reg(unicorn.SS)))
	m.setReg(unicorn.ESP, enterStack-ssBase)
	// With paging on (a VMM's own tables) the region's pages need not be
	// reachable from the new ring: paging is off for the iret.
	cr0 := m.reg(unicorn.CR0)
	if cr0&x86.CR0PG != 0 {
		m.setReg(unicorn.CR0, cr0&^x86.CR0PG)
		defer func() {
			m.setReg(unicorn.CR0, cr0)
			_ = m.E.FlushTLB()
		}()
	}
	if err := m.E.Start(uint64(enterStub), uint64(enterLand), 0, 0); err != nil {
		return fmt.Errorf("vmm: restore: iret to CS %#x: %w", cs, err)
	}
	if got := m.reg(unicorn.EIP); got != land || uint16(m.reg(unicorn.CS)) != cs {
		return fmt.Errorf("vmm: restore: iret to %#x:%#x ended at %#x:%#x", cs, land, m.reg(unicorn.CS), got)
	}
	if !outer {
		if err := m.E.SetReg(unicorn.SS, uint32(ss)); err != nil {
			return fmt.Errorf("vmm: restore SS %#x: %w", ss, err)
		}
	}
	for _, i := range []int{vmstate.DS, vmstate.ES, vmstate.FS, vmstate.GS} {
		if err := m.E.SetReg(segRegs[i], uint32(seg[i])); err != nil {
			return fmt.Errorf("vmm: restore %v %#x: %w", segRegs[i], seg[i], err)
		}
	}
	m.setReg(unicorn.ESP, esp)
	return nil
}

var segRegs = [6]unicorn.Reg{unicorn.ES, unicorn.CS, unicorn.SS, unicorn.DS, unicorn.FS, unicorn.GS}

// SetGPRs sets the general registers and EIP of c.
func (m *Machine) SetGPRs(c vmstate.CPU, eip uint32) {
	m.setRegs([]unicorn.Reg{unicorn.EAX, unicorn.ECX, unicorn.EDX, unicorn.EBX, unicorn.ESP, unicorn.EBP, unicorn.ESI, unicorn.EDI, unicorn.EIP},
		[]uint32{c.EAX, c.ECX, c.EDX, c.EBX, c.ESP, c.EBP, c.ESI, c.EDI, eip})
}

// LoadNativeCPU puts c into the real CPU of the bare machine.
func (m *Machine) LoadNativeCPU(c vmstate.CPU) error {
	e := m.E
	if err := e.SetMMR(unicorn.GDTR, unicorn.MMR{Base: c.GDTR.Base, Limit: uint32(c.GDTR.Limit)}); err != nil {
		return fmt.Errorf("vmm: restore GDTR: %w", err)
	}
	if err := e.SetMMR(unicorn.IDTR, unicorn.MMR{Base: c.IDTR.Base, Limit: uint32(c.IDTR.Limit)}); err != nil {
		return fmt.Errorf("vmm: restore IDTR: %w", err)
	}
	if err := m.EnterSegments(c.Seg, c.EFLAGS, c.ESP); err != nil {
		return err
	}
	for _, t := range []struct {
		reg   unicorn.Reg
		sel   uint16
		flags uint32
	}{{unicorn.LDTR, c.LDTR, 0}, {unicorn.TR, c.TR, trAvailFlags}} {
		if t.sel&^3 == 0 {
			continue
		}
		d, err := m.Descriptor(t.sel)
		if err != nil {
			return fmt.Errorf("vmm: restore %v %#x: %w", t.reg, t.sel, err)
		}
		flags := t.flags
		if flags == 0 {
			flags = uint32(d.Raw>>40) & 0xF0FF
		}
		// A host-written TR must be of the available type: a busy one
		// makes Unicorn abort (SUBSTRATE.md).
		if err := e.SetMMR(t.reg, unicorn.MMR{Selector: t.sel, Base: d.Base, Limit: d.Limit, Flags: flags}); err != nil {
			return fmt.Errorf("vmm: restore %v: %w", t.reg, err)
		}
	}
	for _, idx := range MigratedMSRs {
		if v, ok := c.MSR[idx]; ok {
			if err := e.SetMSR(idx, v); err != nil {
				return fmt.Errorf("vmm: restore MSR %#x: %w", idx, err)
			}
		}
	}
	drs := []unicorn.Reg{unicorn.DR0, unicorn.DR1, unicorn.DR2, unicorn.DR3, unicorn.DR6, unicorn.DR7}
	if err := e.SetRegs(drs, []uint32{c.DR[0], c.DR[1], c.DR[2], c.DR[3], c.DR[6], c.DR[7]}); err != nil {
		return fmt.Errorf("vmm: restore debug registers: %w", err)
	}
	// CR2 first: Unicorn 2.1 writes a CR2 value into CR3 as well.
	if err := e.SetRegs([]unicorn.Reg{unicorn.CR2, unicorn.CR4, unicorn.CR3, unicorn.CR0}, []uint32{c.CR2, c.CR4, c.CR3, c.CR0}); err != nil {
		return fmt.Errorf("vmm: restore control registers: %w", err)
	}
	if err := e.FlushTLB(); err != nil {
		return fmt.Errorf("vmm: %w", err)
	}
	m.SetGPRs(c, c.EIP)
	m.setReg(unicorn.EFLAGS, c.EFLAGS)
	return nil
}

// trAvailFlags are the TR descriptor-cache attributes of an available
// 32-bit TSS, present (as trap's).
const trAvailFlags = (x86.TypeTSS32Avail | 1<<7) << 8

// SaveState saves the bare machine (native) at a pause.
func (m *Machine) SaveState() (*vmstate.State, error) {
	cpu, err := m.NativeCPU()
	if err != nil {
		return nil, err
	}
	return m.SaveMachine(cpu, m.Result(), false)
}

// LoadState restores a saved VM into the bare machine (native).
func (m *Machine) LoadState(st *vmstate.State) error {
	if err := CheckMove(st, m.res.Strategy, false); err != nil {
		return err
	}
	if err := m.LoadMachine(st, false); err != nil {
		return err
	}
	return m.LoadNativeCPU(st.CPU)
}

// CheckMove refuses a state that cannot continue under strategy (a PV
// strategy when pv): a paravirtual guest only under pv, and nothing else
// under pv.
func CheckMove(st *vmstate.State, strategy string, pv bool) error {
	switch {
	case st.Image.PV && !pv:
		return fmt.Errorf("vmm: cannot move the VM saved under %s to %s: it is a paravirtual guest — its kernel was built to call its VMM by hypercall and keeps the hypercall and shared-info pages in its machine, which only a paravirtual VMM provides", st.Strategy, strategy)
	case !st.Image.PV && pv:
		return fmt.Errorf("vmm: cannot move the VM saved under %s to %s: it runs the native build of its kernel, which executes privileged instructions a paravirtual VMM does not emulate", st.Strategy, strategy)
	}
	return nil
}

// ReadRAM copies guest-physical RAM into b (len(b) bytes from address 0):
// a live migration's pre-copy reads it while the VM is paused between
// rounds.
func (m *Machine) ReadRAM(b []byte) error {
	if err := m.E.MemRead(0, b); err != nil {
		return fmt.Errorf("vmm: read RAM: %w", err)
	}
	return nil
}

// SaveWithoutRAM makes SaveState leave State.RAMData nil: a live
// migration has just read RAM itself (reading 16 MiB out of Unicorn costs
// ~100-200 ms, all of it downtime).
func (m *Machine) SaveWithoutRAM(on bool) { m.saveNoRAM = on }

// RAMSize is the size of guest-physical RAM.
func (m *Machine) RAMSize() uint32 { return m.Cfg.MemSize }

// RAMReader is an instance whose RAM can be read between runs.
type RAMReader interface {
	ReadRAM(b []byte) error
	RAMSize() uint32
	SaveWithoutRAM(on bool)
}
