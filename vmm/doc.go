// Package vmm is virtsim's strategy-neutral core: the virtual machine and
// the vocabulary every strategy reports in.
//
// # The machine is the hardware; strategies are hypervisors
//
// A VMM is only interesting next to the machine it virtualizes, so this
// package builds that machine on Unicorn (QEMU's CPU emulator as a
// library): guest RAM, devices on a port bus (COM1, the debug-exit port,
// the POST port, the ATA disk controller and the paravirtual block ring's
// ports: disks.go, packages ata and blkring), one CPU model for CPUID, and — because Unicorn is a CPU,
// not a PC — the parts of the hardware it lacks:
//
//   - Exception and interrupt delivery (deliver.go). Unicorn hands every
//     exception and every int n to a hook and never reads the IDT. The
//     machine reads the gate from the IDT currently loaded, pushes the
//     frame, switches stacks through the TSS when the handler is more
//     privileged, and applies the double-fault rule, as the CPU would. It
//     always uses the *real* tables, the ones loaded in the CPU: under the
//     native strategy they are the guest's own; under trap-and-emulate they
//     belong to the VMM, whose gates lead into the VMM — and that is what
//     makes an event an exit. A system call from ring 3 that the machine
//     has delivered once may be delivered by the engine's C side after
//     that, the same steps with no Go entry, while nothing it read has
//     changed (fast.go): the machine's work, not the guest's, should not
//     dominate the cost of a native system call.
//   - Precise port I/O (io.go): the device sees the access, and the VMM
//     gets control, exactly at the I/O instruction.
//   - Coherent device writes (dma.go): what a device puts into guest
//     memory (an ins's data, a ring's DMA) retires translated code of the
//     frames written, in Unicorn and in a strategy's own cache.
//   - Deterministic time and interrupts (irq.go): an 8254 PIT and a pair of
//     8259 PICs (pit.go, pic.go); guest time counted in executed guest
//     blocks, so runs are reproducible; interrupts delivered at the exact
//     instruction boundary IF and the sti shadow allow.
//   - The rest of the PC a 32-bit SMP kernel expects (platform.go): the
//     local APIC and its timer (lapic.go), the I/O APIC (ioapic.go), the
//     CMOS clock (rtc.go), the UART's receive path (uart.go), the BIOS data
//     area and the MP tables (firmware.go). The APICs are memory-mapped:
//     their pages are left unmapped and each access is trapped and
//     emulated at its instruction (mmio.go), an event with a cause of its
//     own ("mmio/lapic:EOI"). The devices and their wiring are a Platform,
//     independent of Unicorn: the kvm strategy (package hwassist) builds
//     the same one and hands it the accesses KVM exits with
//     (Platform.MMIO).
//
// # Where the VMM plugs in
//
// A strategy that deprivileges the guest loads its own tables into the
// CPU. Then a real IDT gate whose handler lies in the VMM region is an exit:
// the machine calls Machine.VMMTrap instead of pushing a frame. The VMM
// emulates or reflects (Transfer, TransferTo: the same frame-pushing and
// stack-switching the hardware does, with the guest's view in the frame),
// continues the guest with Complete or StepThen, and says when its virtual
// interrupt flag lets the PIC's requests through (VirtualIF).
//
// # Events, exits, results
//
// Everything a guest does that a VMM may have to act on is an Event: a
// cause (what the guest did, the same word under every strategy:
// "io/out:0x80", "int/0x80", "exc/#DE", "cpuid") and a Mechanism (how
// control got there: machine, trap, callout, hypercall, vmexit, ...). An
// exit is an event whose mechanism transfers control to a VMM. The native
// strategy records only "machine" events: it has no VMM, so no exits.
//
// A Result carries the serial output, how the guest stopped, the event
// counts and the guest instruction count of a counting pass. Golden files
// (golden.go) pin those counts so CI notices when they change.
//
// # A VM as an object (snapshot.go)
//
// A counting run can pause at an instruction count (PauseAt): the
// instruction budget cuts it, and the block clock is set back for the
// block the restart re-enters, so the pause is invisible to the guest — a
// time-sliced VM (package partition) or a saved one (package vmstate)
// computes exactly what it computes alone. SaveMachine records RAM, the
// devices field by field, guest time, the sites found and the counts; a
// strategy adds the guest's view of the CPU (NativeCPU on the bare
// machine) and rebuilds its caches when it takes a state over
// (LoadMachine, then its own CPU load; EnterSegments reloads the segment
// registers with an iret, since the host cannot raise CPL).
//
// # Strategies
//
// A Strategy makes Instances that run, run to the next exit, or single-step
// a guest. Strategy packages register themselves; the native strategy
// (native.go) is the Machine with no VMM at all: the bare-metal reference.
package vmm
