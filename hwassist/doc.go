// Package hwassist is virtsim's kvm strategy: the guest runs under Linux's
// KVM, through /dev/kvm, and the VMM is the exit loop in this package.
//
// # Hardware-assisted virtualization
//
// Trap-and-emulate (package trap) fails on x86 because some sensitive
// instructions do not trap when the guest kernel is deprivileged; binary
// translation (package translate) and paravirtualization (package
// hypercall) work around that in software. In 2005-2006 Intel (VT-x, the
// VMX instructions) and AMD (AMD-V, SVM) fixed it in the CPU instead: they
// added a second dimension to privilege. Besides rings 0-3 the CPU now has
// a root mode, where the hypervisor runs, and a guest mode (VMX
// non-root operation), where the guest runs with all four rings of its own:
// the guest kernel really is at CPL 0, its cli and popf really change IF,
// its lgdt really loads a GDT — the hole is gone because nothing needs to be
// deprivileged.
//
// The hypervisor describes a virtual CPU in a control block in memory (the
// VMCS on Intel, the VMCB on AMD): the guest's registers, and which events
// must leave guest mode. A VM entry (VMLAUNCH/VMRESUME, VMRUN) loads the
// guest state and runs the guest at full speed; a VM exit saves it, loads
// the hypervisor's and reports why: the exit reason (an I/O instruction and
// its port, hlt, cpuid, a control-register write, an external interrupt, a
// fault in the extended page tables...). The hypervisor handles the exit and
// enters again. That loop is the whole VMM. Unlike a trap, an exit is chosen
// per event by the hypervisor — cpuid and port I/O always exit, cli never
// does — and it is expensive: hundreds to thousands of cycles each way, which
// is why Adams and Agesen (2006) found early VT-x slower than VMware's binary
// translator on exit-heavy code. Later CPUs cut the cost and added nested
// paging (EPT, NPT) so that guest page tables no longer need shadowing.
//
// # KVM
//
// Linux's KVM does the root-mode half in the kernel. A VMM in user space
// opens /dev/kvm, creates a VM (a file descriptor) and in it vCPUs (more file
// descriptors), maps ordinary memory of its own as guest-physical RAM, sets
// the registers, and calls the KVM_RUN ioctl on a vCPU. KVM_RUN enters the
// guest and returns when an exit needs user space; what happened is in
// struct kvm_run, a page the VMM has mmap'd from the vCPU file descriptor.
// Many exits never reach user space — KVM handles cpuid, control registers,
// page faults and, with an in-kernel interrupt controller, interrupts and
// hlt — and the VMM sees only what it must: port I/O to its devices, MMIO,
// hlt (here, as virtsim keeps its PIT and PIC in user space), and failures.
// This package speaks that API through golang.org/x/sys/unix ioctls, with
// the kernel structures mirrored in kvm.go and checked against
// <linux/kvm.h>; unsafe is confined to kvm_unsafe.go.
//
// # The VM
//
// New builds the machine virtsim's other strategies have: guest RAM (16 MiB
// by default, up to vmm.MaxMemSize with --mem, mmap'd and given to KVM as
// its one memory slot), the multiboot image and info block, what the
// firmware leaves a kernel (the BIOS data area and the MP tables,
// vmm.FirmwareFor: the Unicorn machine's bytes), and the entry state set
// through KVM_SET_SREGS and KVM_SET_REGS: 32-bit protected mode
// with paging off, flat code and data segments from the entry GDT at
// guest.BootScratchAddr (CS 0x08, DS..SS 0x10, the bytes vmm.Boot writes),
// IDTR 0/0, IF=0, EAX=0x2BADB002, EBX=the info block. The CPU model is
// virtsim's (vmm.CPUID, QEMU's qemu32), given to KVM with KVM_SET_CPUID2.
// The devices are the Unicorn machine's own, the same vmm.Platform: COM1
// (with its receive path: --input, a terminal, the UI's FeedInput), the
// debug-exit port 0xF4, the POST port 0x80, the 8254 PIT, the 8259 PIC
// pair, port 0x61, the CMOS RTC, the CRT controller, the keyboard
// controller, PCI configuration space, the local APIC and the I/O APIC,
// the ATA disk and the block ring's ports (a native guest's ring
// notification is a port write here: one exit per batch, as virtio's
// doorbell). A rep ins/outs reaches user space as KVM's emulator hands it
// over: a rep ins in batches (the emulator reads ahead up to a page; the
// kvm-string-io-exits and -elements counters report them), a rep outs one
// element per exit (its em_out passes a count of 1) — 256 exits for a
// sector written by rep outsw, measured on kvm_amd. The vCPU belongs to one OS thread, locked to its goroutine for the
// life of the VM: every vCPU ioctl runs there.
//
// # The APICs in user space
//
// KVM can model the local APIC and the I/O APIC itself (KVM_CREATE_IRQCHIP;
// QEMU's default), and then a guest's EOI, TPR write or timer interrupt
// never leaves the kernel. virtsim does not ask for it: its APICs, like its
// PIT and PIC, stay in user space, as QEMU's -machine kernel_irqchip=off
// has them, so that a kernel's interrupt-controller traffic is counted, by
// register, exactly as under the other strategies — which is what the
// comparison is for. The device window at 0xFE000000-4 GiB has no memory
// slot, so every access to the local APIC's page (0xFEE00000) or the I/O
// APIC's (0xFEC00000) is a nested-paging fault KVM cannot resolve: its
// instruction emulator decodes the access and exits with KVM_EXIT_MMIO,
// the VMM performs it on the device model (an event mmio/lapic:EOI,
// mmio/ioapic:IOWIN, ... with mechanism vmexit) and, for a load, writes the
// value into kvm_run, from which KVM completes the instruction on the next
// KVM_RUN (mmio.go). The guest's TPR, EOI, ICR (INIT and SIPI to the
// absent second CPU vanish, as on a one-CPU PC) and timer programming all
// flow through the models; their interrupts — the APIC timer, IPIs, the
// I/O APIC's pins, the 8259s' through LINT0 — are injected with
// KVM_INTERRUPT as the PIC's always were (see below). An access outside
// RAM that no device claims stops the guest with a crash naming the
// address.
//
// # The exit loop
//
// VM.Run calls KVM_RUN, decodes kvm_run into a plain kvmExit and asks
// decide — a pure function, unit-tested with made-up exits — what it means:
//
//	exit                                 action       event (cause, mechanism)
//	KVM_EXIT_IO                          device bus   io/out:PORT, io/in:PORT   vmexit
//	KVM_EXIT_MMIO at a device page       device       mmio/DEV:REG              vmexit
//	KVM_EXIT_HLT                         wait         hlt                       vmexit
//	KVM_EXIT_INTERNAL_ERROR, emulation   emulate      the instruction's cause   emulation
//	KVM_EXIT_IRQ_WINDOW_OPEN             inject       irq-window                vmexit
//	KVM_EXIT_DEBUG                       single step  (none: the VMM's own step)
//	KVM_RUN: EINTR / KVM_EXIT_INTR        kick         (none: a signal, see budgets)
//	KVM_EXIT_MMIO elsewhere, _SHUTDOWN,  crash        (none: the stop reports the cause,
//	_FAIL_ENTRY, other internal errors,               the registers and the decoded
//	_SYSTEM_EVENT, anything else                      instruction at EIP)
//
// Every event is recorded as on the other strategies; exits have the
// mechanisms vmexit (KVM returned to the user-space VMM) and emulation
// (KVM's emulator gave up and virtsim finished the instruction). Interrupts
// injected by the VMM and delivered by the CPU through the guest's IDT are
// irq/N events with mechanism machine: the decision to inject rides on an
// exit already counted. A triple fault is KVM_EXIT_SHUTDOWN: a crash, as
// QEMU's -no-reboot makes it. On AMD-V KVM has INIT the vCPU by then, so
// the report gives the state of the last entry instead of the lost one
// (hwquirks.go, with the other difference hardware makes: a single step
// over mov to SS runs two instructions).
//
// # PVM: KVM without the hardware
//
// On these machines /dev/kvm is provided by kvm_pvm. PVM ("Pagetable-based
// Virtual Machine") is a software hypervisor built into KVM for hosts
// without VT-x or AMD-V — cloud VMs that cannot nest hardware
// virtualization. It runs guests in the host's user mode with shadow page
// tables and a small switcher, and runs natively only 64-bit user-mode code.
// Everything else, including all of virtsim's 32-bit guests, goes through
// KVM's in-kernel x86 instruction emulator, one instruction at a time
// (~0.5 µs each; kvm/insn_emulation counts them, kvm/exits counts batches of
// them). The API is the same, so this package runs unchanged on VT-x, AMD-V
// and PVM; the flavour (detected from /sys/module and the CPU flags,
// reported in every result and in `virtsim list`) decides what the counts
// mean, and KVM results and goldens are keyed by it ("kvm/pvm").
//
// PVM differs from hardware assist in ways a VMM must handle, each measured
// on these machines:
//
//   - KVM's emulator refuses int n, int3, into, iret, lar, lsl, verr and verw
//     in 32-bit protected mode. At CPL 0 KVM_RUN returns
//     KVM_EXIT_INTERNAL_ERROR (emulation failure) with EIP at the
//     instruction; virtsim finishes it with trap's emulator against KVM's
//     registers and guest memory (kvmCPU implements trap.CPU over struct
//     kvm_regs and kvm_sregs) and, for a software interrupt or a fault,
//     delivers it through the guest's IDT itself (deliver.go). These are the
//     emulation exits: one int/0x80 and one priv/iret per system call of
//     the syscall workload. QEMU's KVM mode has no such completion: the same
//     guests die under qemu-system-i386 -accel kvm here.
//   - At CPL 3 the same refusal becomes a #UD in the guest instead of an
//     exit, even with KVM_CAP_EXIT_ON_EMULATION_FAILURE. So while the guest
//     runs user code the VMM single-steps it and finishes refused
//     instructions before KVM sees them (run.go: preEmulate).
//   - KVM_INTERRUPT delivers the vector at the next entry even with IF=0 or
//     inside an sti shadow, and an interrupt-window request is honoured
//     only between batches of emulated instructions. So the VMM injects only
//     when IF=1 and the shadow (read from kvm_run's synchronised events) is
//     clear, and otherwise single-steps until it is: exact delivery, like
//     the Unicorn machine's. Hardware assist uses the interrupt window.
//   - PVM rewrites the CPUID table (leaf 1 gets the host's feature flags),
//     which KVM_GET_CPUID2 shows. The VMM then intercepts the image's cpuid
//     instructions with int3 and answers from virtsim's model (cpuid.go):
//     cpuid events with mechanism vmexit. On VT-x and AMD-V cpuid is handled
//     by KVM in the kernel and never seen here.
//   - vmcall at CPL 0 livelocks KVM_RUN: the paravirtual strategy's
//     hypercalls under KVM are port I/O.
//
// # Interrupts and time
//
// The PIT, the PIC and the APICs stay in user space (no in-kernel
// irqchip: hlt exits to the VMM). After every exit the VMM asks the
// platform for the vector the CPU's interrupt acknowledge would return —
// the local APIC's best, else the 8259's through LINT0, as QEMU's PC
// decides; a pending interrupt is injected with KVM_INTERRUPT when the
// guest can take it (and then acknowledged at the model: IRR to ISR, or the
// PIC's INTA), or the VMM waits for an interrupt window (irq-window
// exits; by single steps right after an sti KVM reports no shadow for,
// which the nested rig's emulated SVM was seen to open a window inside:
// run.go, stiBefore). hlt with IF=1 skips guest time to the next timer event (the
// PIT's or the APIC timer's); hlt with IF=0, or with nothing that could
// wake it, stops the guest with the Unicorn machine's words — unless a
// live input source is attached, when it waits for what is typed. Guest
// time is counted in exits (TicksPerExit PIT ticks per exit; the APIC
// timer's clock runs 838 times as fast, as on Unicorn): the guest can only
// read a timer by exiting, so it sees time advance at a fixed rate per
// poll and a run is exactly repeatable, the APIC timer's interrupts
// included; the timer and platform workloads print only what the
// hardware's semantics fix, so their output equals native's and QEMU's.
// What is not deterministic under KVM: a guest that waits for a timer
// without ever exiting (the watchdog's clock kick, in wall time, clock.go),
// and input from a terminal or the UI, which arrives in real time. A
// kernel that polls by exiting (xv6's idle loop reads the APIC's ID
// register, an MMIO exit, on every pass) sees its timer tick after a fixed
// number of exits, a different rate from Unicorn's blocks: the same
// output, different interleavings and counts.
//
// # Budgets and kicks
//
// KVM cannot count guest instructions: Result.Instructions is 0 on kvm,
// Config.Count only adds a note saying so, and Config.InsnBudget is not
// enforced. The time budget is (it counts the time the guest ran, not
// pauses between runs): a watchdog goroutine kicks the vCPU out of KVM_RUN
// by setting kvm_run.immediate_exit and sending SIGURG (Go's own preemption
// signal, which every Go program handles) to the vCPU thread with tgkill;
// KVM_RUN returns EINTR and the loop stops the guest. The same kick serves
// VM.Abort (a test's watchdog; Close of a running VM) and VM.Interrupt
// (vmm.Interrupter: the terminal UI's pause key, which pauses even a guest
// that never exits). EINTRs without a reason — Go's runtime preempting —
// are retried and counted in kvm-eintr.
//
// # Statistics
//
// The vCPU's binary statistics (KVM_GET_STATS_FD: a header, descriptors
// and data, read with pread) are read when the VM is created and when a
// result is taken; their change over the run is reported as counters
// kvm/NAME beside the exits — kvm/exits, kvm/io_exits, kvm/halt_exits,
// kvm/insn_emulation, kvm/pf_taken... — and never added into them: under
// PVM kvm/exits counts batches of emulated instructions, and port I/O is
// counted as emulation (kvm/io_exits stays 0). They show where the time
// goes that the event table cannot: the io workload's outs are a few
// user-space exits, but every instruction between them is an emulated one.
package hwassist
