package hwassist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"virtsim/guest"
	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// VM is one guest under KVM: the VM and its single vCPU, guest RAM, the
// devices (the same ones the Unicorn machine has) and the exit loop.
// Everything that touches the vCPU runs on the vCPU thread.
type VM struct {
	Img     *guest.Image
	Cfg     vmm.Config
	Flavour FlavourInfo

	kvmFD, vmFD, vcpuFD int
	mem                 []byte // guest-physical RAM, mmap'd
	run                 []byte // the vCPU's kvm_run, mmap'd
	thread              *vcpuThread

	// The devices: the Unicorn machine's platform (vmm.Platform: the port
	// bus, COM1, the PIT, the 8259s, the local APIC and the I/O APIC in
	// user space, the RTC...) and disks.
	*vmm.Platform
	Disks *vmm.Disks

	emu *trap.Emulator

	// In-kernel statistics.
	stats       *os.File
	schema      *statsSchema
	statsBefore Stats
	statsErr    error

	// Exit-loop state (vCPU thread only).
	regs       kvmRegs    // the general registers at the last exit (kvm_run's synchronised copy)
	entryRegs  kvmRegs    // the general registers at the last entry (crash reports on AMD-V: hwquirks.go)
	cs         kvmSegment // CS at the last exit: its RPL is the CPL
	mmu        x86.MMU    // CR0, CR3, CR4 at the last exit: the guest's paging, for decoding
	shadow     bool       // an interrupt shadow (sti, mov/pop ss) at the last exit
	res        vmm.Result
	stop       vmm.Stop
	now        uint64    // guest time in PIT ticks (see clock.go)
	runStart   time.Time // when the current Run began (the time budget)
	userStep   bool      // Step asked KVM for a single step
	window     bool      // an interrupt is pending but the guest cannot take it yet
	stepWindow bool      // find the window by single steps, not KVM's window exit (stepForWindow)
	stiSteps   uint64    // windows stepped for because sti preceded RIP with no shadow reported
	stepped    bool      // this exit is a single step taken to find a window
	debugCtl   uint32    // the KVM_SET_GUEST_DEBUG control last set
	reqWindow  bool      // request_interrupt_window as last set
	pauseExit  bool      // RunToExit: return after the next exit event
	paused     bool
	eintr      uint64 // KVM_RUN interrupted by a signal (Go's preemption) and retried
	kicks      uint64 // clock kicks (see clock.go)
	steps      uint64 // single steps taken to find interrupt windows
	userSteps  uint64 // single steps through guest user code (PVM)
	// String I/O as KVM hands it to user space: exits carrying more than
	// one element (a rep ins/outs batch) and the elements they carried.
	strIOExits, strIOElems uint64
	// preEmulated counts the instructions the VMM finished before KVM saw
	// them (PVM, CPL 3): with kvm/insn_emulation, the guest instruction count.
	preEmulated uint64

	// Kicking the vCPU out of KVM_RUN from another goroutine.
	kickReasons atomic.Uint32
	inRun       atomic.Bool // inside KVM_RUN
	running     atomic.Bool // inside the exit loop
	exitSeq     atomic.Uint64
	clockArmed  atomic.Bool
	abortWhy    atomic.Pointer[string]
	cpuidSites  map[uint32]bool // cpuid instructions patched to int3 (cpuid.go)
	kickMu      sync.RWMutex
}

// New boots img under KVM.
func New(img *guest.Image, cfg vmm.Config) (_ *VM, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := vmm.CheckMemSize(cfg.MemSize); err != nil {
		return nil, fmt.Errorf("hwassist: %w", err)
	}
	v := &VM{Img: img, Cfg: cfg, Flavour: HostFlavour(), kvmFD: -1, vmFD: -1, vcpuFD: -1}
	v.res = vmm.Result{Guest: cfg.Name, Args: cfg.Args, Strategy: "kvm", Flavour: v.Flavour.Name, Counts: vmm.Counts{}, Counters: map[string]uint64{}}
	if v.res.Guest == "" {
		v.res.Guest = img.Name
	}
	if v.res.Flavour == "" {
		v.res.Flavour = "unknown"
	}
	defer func() {
		if err != nil {
			v.Close()
		}
	}()
	if err := v.setupDevices(); err != nil {
		return nil, err
	}
	if err := v.createVM(); err != nil {
		return nil, err
	}
	if err := v.load(); err != nil {
		return nil, err
	}
	v.thread = startVCPUThread()
	v.thread.do(func() { err = v.createVCPU() })
	if err != nil {
		return nil, err
	}
	v.emu = &trap.Emulator{P: platform{v}, PassFlags: true}
	return v, nil
}

func (v *VM) setupDevices() error {
	p, err := vmm.NewPlatform(v.Cfg, v.Now)
	if err != nil {
		return fmt.Errorf("hwassist: %w", err)
	}
	v.Platform = p
	disks, err := p.AttachDisks(v.Cfg, v.Img, vmMem{v})
	if err != nil {
		return fmt.Errorf("hwassist: %w", err)
	}
	v.Disks = disks
	return nil
}

// createVM opens /dev/kvm, creates the VM and maps guest RAM into it.
func (v *VM) createVM() error {
	fd, err := unix.Open(DevKVM, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return openErr(err, v.Flavour)
	}
	v.kvmFD = fd
	vm, err := ioctlInt(fd, kvmCreateVM, 0)
	if err != nil {
		return fmt.Errorf("hwassist: KVM_CREATE_VM: %w", err)
	}
	v.vmFD = vm
	// Refused instructions in guest user code (int $0x80 from ring 3)
	// must reach the VMM too, not become a #UD in the guest.
	if n, err := ioctlInt(fd, kvmCheckExtension, capExitOnEmulationFailure); err == nil && n > 0 {
		c := kvmEnableCap{Cap: capExitOnEmulationFailure, Args: [4]uint64{1}}
		if err := enableCap(vm, &c); err != nil {
			return fmt.Errorf("hwassist: KVM_ENABLE_CAP(KVM_CAP_EXIT_ON_EMULATION_FAILURE): %w", err)
		}
	} else {
		v.res.Notes = append(v.res.Notes, "this KVM lacks KVM_CAP_EXIT_ON_EMULATION_FAILURE: an instruction its emulator refuses in guest user mode becomes a #UD in the guest")
	}
	if v.Flavour.Name == FlavourVMX {
		// VT-x without unrestricted guest needs three pages for its
		// real-mode TSS; QEMU puts them just below the BIOS. Harmless
		// elsewhere, and not needed in protected mode, so errors are
		// ignored.
		ioctlInt(vm, kvmSetTSSAddr, kvmTSSAddr)
	}
	mem, err := unix.Mmap(-1, 0, int(v.Cfg.MemSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("hwassist: mmap %d MiB of guest RAM: %w", v.Cfg.MemSize>>20, err)
	}
	v.mem = mem
	// One memory slot, guest RAM at 0 (at most vmm.MaxMemSize, 3.5 GiB).
	// Everything above it has no slot — the device window at 0xFE000000
	// (the I/O APIC, the local APIC) included — so the guest's accesses
	// there leave KVM as KVM_EXIT_MMIO, for the VMM's device models.
	if err := setMemoryRegion(vm, 0, 0, mem); err != nil {
		return fmt.Errorf("hwassist: KVM_SET_USER_MEMORY_REGION: %w", err)
	}
	return nil
}

// load writes the image, the multiboot info block, the entry GDT and the
// firmware's tables (the BIOS data area and the MP tables,
// vmm.FirmwareFor) into guest RAM, as vmm.Boot and the Unicorn machine do.
func (v *VM) load() error {
	for _, s := range v.Img.Segments {
		if uint64(s.Addr)+uint64(s.MemSize) > uint64(len(v.mem)) {
			return fmt.Errorf("hwassist: segment %#x+%#x lies outside %d MiB of guest RAM", s.Addr, s.MemSize, len(v.mem)>>20)
		}
		copy(v.mem[s.Addr:], s.Data)
	}
	infoAddr, info := guest.MultibootInfo(v.Cfg.MemSize, v.Cfg.Args)
	copy(v.mem[infoAddr:], info)
	copy(v.mem[guest.BootScratchAddr:], bootGDT())
	for _, b := range vmm.FirmwareFor(v.Img, v.Cfg.MemSize) {
		copy(v.mem[b.Addr:], b.Data)
	}
	return nil
}

// Entry selectors (the same as vmm.Boot's).
const (
	bootCodeSel = 0x08
	bootDataSel = 0x10
)

// bootGDT is the entry GDT vmm.Boot writes on Unicorn: null, flat code,
// flat data — like the GDT QEMU's multiboot loader leaves behind.
func bootGDT() []byte {
	var gdt [24]byte
	binary.LittleEndian.PutUint64(gdt[8:], x86.EncodeSegment(0, 0xFFFFFFFF, 0xA, 0, true, true))
	binary.LittleEndian.PutUint64(gdt[16:], x86.EncodeSegment(0, 0xFFFFFFFF, 0x2, 0, true, true))
	return gdt[:]
}

// createVCPU creates the vCPU, maps its kvm_run, gives it virtsim's CPU
// model and the multiboot entry state, and opens its statistics. It runs
// on the vCPU thread.
func (v *VM) createVCPU() error {
	fd, err := ioctlInt(v.vmFD, kvmCreateVCPU, 0)
	if err != nil {
		return fmt.Errorf("hwassist: KVM_CREATE_VCPU: %w", err)
	}
	v.vcpuFD = fd
	size, err := ioctlInt(v.kvmFD, kvmGetVCPUMmapSize, 0)
	if err != nil {
		return fmt.Errorf("hwassist: KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	if size < runMinSize {
		return fmt.Errorf("hwassist: kvm_run is %d bytes, want at least %d", size, runMinSize)
	}
	run, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("hwassist: mmap kvm_run: %w", err)
	}
	v.run = run
	if err := v.setCPUID(); err != nil {
		return err
	}
	if err := v.setEntryState(); err != nil {
		return err
	}
	const sync = syncX86Regs | syncX86Sregs | syncX86Events
	if n, err := ioctlInt(v.kvmFD, kvmCheckExtension, capSyncRegs); err != nil || n&sync != sync {
		return fmt.Errorf("hwassist: KVM lacks KVM_CAP_SYNC_REGS for registers, special registers and events")
	}
	binary.LittleEndian.PutUint64(v.run[runValidRegs:], sync)
	v.openStats()
	return nil
}

// setCPUID gives the vCPU virtsim's CPU model (vmm.CPUID, QEMU's qemu32):
// every basic and extended leaf up to the model's maxima, and the
// subleaves of the leaves that have them.
func (v *VM) setCPUID() error {
	c, err := buildCPUID(vmm.CPUID)
	if err != nil {
		return err
	}
	if err := setCPUID2(v.vcpuFD, c); err != nil {
		return fmt.Errorf("hwassist: KVM_SET_CPUID2: %w", err)
	}
	return v.checkCPUID(c)
}

// subleafed lists the CPUID leaves whose answer depends on ECX (Intel SDM
// vol. 2, CPUID): KVM matches them by index.
var subleafed = map[uint32]bool{4: true, 7: true, 0xB: true, 0xD: true, 0xF: true, 0x10: true, 0x12: true, 0x14: true, 0x17: true, 0x18: true, 0x1F: true}

// buildCPUID lists the model's leaves as KVM entries. KVM answers a leaf
// beyond the maxima with the highest basic leaf (as Intel CPUs and QEMU
// do, and as vmm.CPUID does) and an absent subleaf with zeros.
func buildCPUID(model func(leaf, sub uint32) [4]uint32) (*kvmCPUID2, error) {
	c := &kvmCPUID2{}
	add := func(leaf, sub, flags uint32, r [4]uint32) error {
		if int(c.NEnt) == len(c.Entries) {
			return fmt.Errorf("hwassist: the CPU model has more than %d CPUID entries", len(c.Entries))
		}
		c.Entries[c.NEnt] = kvmCPUIDEntry2{Function: leaf, Index: sub, Flags: flags, EAX: r[0], EBX: r[1], ECX: r[2], EDX: r[3]}
		c.NEnt++
		return nil
	}
	for _, base := range []uint32{0, 0x80000000} {
		max := model(base, 0)[0]
		if max < base || max-base > 0x40 {
			return nil, fmt.Errorf("hwassist: CPUID leaf %#x reports an implausible maximum %#x", base, max)
		}
		for leaf := base; leaf <= max; leaf++ {
			if !subleafed[leaf] {
				if err := add(leaf, 0, 0, model(leaf, 0)); err != nil {
					return nil, err
				}
				continue
			}
			for sub := uint32(0); sub < 16; sub++ {
				r := model(leaf, sub)
				if sub > 0 && r == [4]uint32{} {
					break
				}
				if err := add(leaf, sub, cpuidFlagSignifcantIdx, r); err != nil {
					return nil, err
				}
			}
		}
	}
	return c, nil
}

// setEntryState sets the multiboot entry state through the special
// registers: 32-bit protected mode (CR0.PE, paging off), flat code and data
// segments loaded from the entry GDT at guest.BootScratchAddr (CS 0x08,
// DS..SS 0x10), IDTR 0/0, IF=0, EAX=0x2BADB002, EBX=the info block, EIP=the
// image's entry — the state vmm.Boot gives the Unicorn machine.
func (v *VM) setEntryState() error {
	var s kvmSregs
	if err := getSregs(v.vcpuFD, &s); err != nil {
		return fmt.Errorf("hwassist: KVM_GET_SREGS: %w", err)
	}
	gdt := bootGDT()
	code := x86.Decode(gdt[8:])
	data := x86.Decode(gdt[16:])
	s.CS = segmentOf(bootCodeSel, code)
	s.CS.Type |= 1 // the cache holds the descriptor as loaded: accessed
	ds := segmentOf(bootDataSel, data)
	ds.Type |= 1
	s.DS, s.ES, s.FS, s.GS, s.SS = ds, ds, ds, ds, ds
	s.GDT = kvmDtable{Base: guest.BootScratchAddr, Limit: uint16(len(gdt) - 1)}
	s.IDT = kvmDtable{Base: 0, Limit: 0}
	// TR and LDTR keep KVM's reset values (a busy TSS and an LDT at 0),
	// which VM entry requires to be usable.
	s.CR0 = x86.CR0PE | x86.CR0ET
	s.CR2, s.CR3, s.CR4, s.EFER = 0, 0, 0, 0
	if err := setSregs(v.vcpuFD, &s); err != nil {
		return fmt.Errorf("hwassist: KVM_SET_SREGS (entry state): %w", err)
	}
	infoAddr, _ := guest.MultibootInfo(v.Cfg.MemSize, v.Cfg.Args)
	r := kvmRegs{RAX: guest.MultibootMagic, RBX: uint64(infoAddr), RSP: guest.EntryESP, RIP: uint64(v.Img.Entry), RFLAGS: x86.FlagReserved1}
	if err := setRegs(v.vcpuFD, &r); err != nil {
		return fmt.Errorf("hwassist: KVM_SET_REGS (entry state): %w", err)
	}
	v.regs = r
	v.cs = s.CS
	return nil
}

// openStats opens the vCPU's binary statistics and takes the "before"
// snapshot. A kernel without them (before 5.14) only loses the counters.
func (v *VM) openStats() {
	fd, err := ioctlInt(v.vcpuFD, kvmGetStatsFD, 0)
	if err != nil {
		v.statsErr = fmt.Errorf("KVM_GET_STATS_FD: %w", err)
		return
	}
	v.stats = os.NewFile(uintptr(fd), "kvm-vcpu-stats")
	if v.schema, err = parseStatsSchema(v.stats); err == nil {
		v.statsBefore, err = v.schema.snapshot(v.stats)
	}
	v.statsErr = err
}

// Close releases the vCPU thread, the file descriptors and the mappings.
func (v *VM) Close() error {
	if v.running.Load() {
		// Another goroutine is running the guest: stop it first, or
		// stopping the vCPU thread would wait for the whole run.
		v.Abort("the VM was closed")
	}
	v.kickMu.Lock()
	defer v.kickMu.Unlock()
	if v.thread != nil {
		v.thread.stop()
		v.thread = nil
	}
	if v.stats != nil {
		v.stats.Close()
		v.stats = nil
	}
	var errs []error
	for _, fd := range []*int{&v.vcpuFD, &v.vmFD, &v.kvmFD} {
		if *fd >= 0 {
			errs = append(errs, unix.Close(*fd))
			*fd = -1
		}
	}
	// The VM fd held the memory slot; with it closed, unmapping is safe.
	if v.run != nil {
		errs = append(errs, unix.Munmap(v.run))
		v.run = nil
	}
	if v.mem != nil {
		errs = append(errs, unix.Munmap(v.mem))
		v.mem = nil
	}
	return errors.Join(errs...)
}

// RAM is guest-physical memory.
func (v *VM) RAM() []byte { return v.mem }

// Translate asks KVM for the physical address of a linear one (paging on).
func (v *VM) Translate(linear uint32) (uint32, bool, error) {
	t := kvmTranslation{LinearAddress: uint64(linear)}
	if err := translate(v.vcpuFD, &t); err != nil {
		return 0, false, fmt.Errorf("hwassist: KVM_TRANSLATE %#x: %w", linear, err)
	}
	return uint32(t.PhysicalAddress), t.Valid != 0, nil
}

// vcpuThread is the OS thread that owns the vCPU: every vCPU ioctl is
// issued from it, it is the thread a kick signals, and it stays locked to
// its goroutine until the VM closes (the thread then exits with it).
type vcpuThread struct {
	req  chan func()
	done chan struct{}
	tid  atomic.Int32
}

func startVCPUThread() *vcpuThread {
	t := &vcpuThread{req: make(chan func()), done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		// Never unlocked: when this goroutine returns, the thread exits
		// too, and no other goroutine ever runs on a thread whose tid a
		// kicker may still hold.
		runtime.LockOSThread()
		t.tid.Store(int32(unix.Gettid()))
		close(ready)
		defer close(t.done)
		for f := range t.req {
			f()
		}
	}()
	<-ready
	return t
}

// do runs f on the vCPU thread and waits for it; a panic in f is re-raised
// in the caller.
func (t *vcpuThread) do(f func()) {
	var p any
	ch := make(chan struct{})
	t.req <- func() {
		defer close(ch)
		defer func() { p = recover() }()
		f()
	}
	<-ch
	if p != nil {
		panic(p)
	}
}

func (t *vcpuThread) stop() {
	close(t.req)
	<-t.done
}

// vmMem is guest-physical memory (the mmap'd RAM) for the ring backend.
type vmMem struct{ v *VM }

func (m vmMem) ReadPhys(addr uint32, b []byte) error {
	if uint64(addr)+uint64(len(b)) > uint64(len(m.v.mem)) {
		return fmt.Errorf("hwassist: read %d bytes at physical %#x: %w", len(b), addr, errOutsideRAM)
	}
	copy(b, m.v.mem[addr:])
	return nil
}

func (m vmMem) WritePhys(addr uint32, b []byte) error {
	if uint64(addr)+uint64(len(b)) > uint64(len(m.v.mem)) {
		return fmt.Errorf("hwassist: write %d bytes at physical %#x: %w", len(b), addr, errOutsideRAM)
	}
	copy(m.v.mem[addr:], b)
	return nil
}

func (m vmMem) RAMSize() uint32 { return m.v.Cfg.MemSize }
