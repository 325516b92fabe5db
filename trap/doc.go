// Package trap is virtsim's trap-and-emulate machinery: the classical way
// to virtualize a CPU, and the demonstration of why it is not enough on x86.
//
// # Trap and emulate
//
// A virtual machine monitor (VMM) wants the guest's operating-system kernel
// to run directly on the real processor, at full speed, while the VMM keeps
// control of the machine. So it runs the kernel deprivileged — not in the
// most privileged mode — and keeps the real privileged state (interrupt
// flag, page tables, descriptor tables, I/O) for itself. Each time the
// kernel executes an instruction that touches privileged state, the CPU
// refuses: the instruction faults, and the fault lands in the VMM (it owns
// the real interrupt table). The VMM decodes the instruction, performs it
// on the guest's *virtual* CPU — its own record of what the kernel believes
// the interrupt flag, CR3, the GDT register... hold — moves the guest's
// instruction pointer past it, and resumes the guest. Trap, emulate,
// resume: the kernel never notices.
//
// # Popek and Goldberg
//
// Popek and Goldberg (1974) said when this works. Call an instruction
// privileged if it traps when executed outside the most privileged mode and
// runs normally inside it; call it sensitive if it reads or changes the
// machine's privileged configuration, or behaves differently depending on
// it. Their theorem: a VMM can be built by trap-and-emulate alone if every
// sensitive instruction is privileged. Then every instruction the VMM must
// see traps, and everything else can run directly.
//
// x86 (32-bit protected mode, before VT-x and AMD-V) fails the condition.
// Robin and Irvine (2000) listed the sensitive instructions that are not
// privileged, usually quoted as seventeen:
//
//   - sgdt, sidt, sldt, str, smsw: store a privileged register (the GDT,
//     IDT, LDT and task registers, the low bits of CR0) at any privilege
//     level — the deprivileged kernel reads the VMM's values, not its own;
//   - pushf, popf: pushf shows the real interrupt flag and IOPL; popf
//     outside ring 0 silently does not change IOPL, and silently does not
//     change IF when CPL > IOPL — no trap, the kernel's cli-by-popf is lost.
//     A VMM on real hardware keeps the real IF set for the host's
//     interrupts, so pushf after cli shows IF=1. This one needs no host
//     interrupts to keep control (its budget and watchdog stop the CPU, as
//     an NMI would), so it lends the real IF to the guest (VMM.MirrorIF):
//     cli and sti still trap, the VMM copies the virtual IF into the real
//     EFLAGS, and pushf tells the truth — which a real kernel needs (xv6's
//     mycpu() panics when pushf shows IF=1 after cli). popf's lost IF and
//     pushf's IOPL remain. vmm.Config.ClassicIF (--classic-if) restores the
//     classic VMM's real IF, and with it the pushf half of the hole;
//   - lar, lsl, verr, verw: answer questions about descriptors as the CPU
//     sees them at the real privilege level;
//   - push and pop of segment registers, mov to and from them: the selector
//     of CS and SS carries the current privilege level in its low bits
//     (the RPL), so a deprivileged kernel sees ring 1, not ring 0;
//   - far call, far jmp, far ret, int n (and iret): control transfers whose
//     checks depend on the current privilege level.
//
// None of them traps for a deprivileged kernel in the ordinary case, so a
// pure trap-and-emulate VMM on x86 is not faithful: the workload pgprobe
// shows it, and `virtsim run --audit` counts each sensitive instruction
// that ran unseen. VMware's answer was binary translation, Xen's was
// paravirtualization, and Intel's and AMD's was a new processor mode
// (hardware assist); virtsim has all three beside this one.
//
// # Ring compression
//
// x86 has four rings but a guest needs two of them (kernel and user) and
// the VMM needs one for itself, so the guest kernel is compressed into
// ring 1 while guest user code stays in ring 3. The VMM's own descriptor
// tables hold shadow copies of the guest's descriptors with DPL 0 turned
// into DPL 1, and the guest's RPL-0 selectors run as RPL 1
// (Platform.ShadowSelector, Platform.ShadowDescriptor). Some loads fault
// only because of that compression — loading SS with an RPL-0 selector at
// CPL 1, returning by iret or lret to RPL-0 code — and the VMM emulates
// them too. A guest's LDT gets the same treatment: at lldt the VMM builds
// a compressed shadow of it in its region and points the real LDTR there
// (ldt.go), so TI=1 selectors load natively as GDT ones do.
//
// # What this package provides
//
// Classify (classes.go, checked against testdata/classes.txt) says, for a
// decoded instruction, whether it is innocuous, privileged, sensitive or
// I/O under deprivileging, and which event cause it produces ("priv/cli",
// "io/out:0x80", "sens/popf", "int/0x80", ...). InsnClass.Hole picks out
// the sensitive instructions that never trap under ring compression — what
// an audit of the x86 hole counts.
//
// Emulator.Emulate decodes the instruction at the faulting EIP with
// golang.org/x/arch/x86/x86asm (32-bit mode) and emulates it against the
// virtual CPU (VCPU) and the real one (the CPU interface, which the
// Unicorn-backed trap strategy and the KVM strategy's user-space completion
// both implement). Every check is the hardware's, made against the guest's
// own state: the virtual CPL and IOPL, the guest's GDT, LDT and TSS. It
// handles:
//
//   - cli, sti (the virtual IF; #GP when the virtual CPL > IOPL), hlt;
//   - in, out, ins, outs in every width, immediate and DX ports, with and
//     without rep, checked against the virtual IOPL and else the I/O
//     permission bitmap of the guest's own TSS. Emulator.RepPerExit bounds
//     the elements one emulation moves: the trap strategy sets 1, so a
//     `rep insw` of a 512-byte sector is 256 traps, as when every access of
//     a deprivileged guest faults (the emulated disk's 263 exits per
//     sector); the binary translator's callout moves the whole rep at once;
//   - mov to and from CR0, CR2, CR3, CR4, lmsw, clts, invlpg, wbinvd, invd,
//     lgdt, lidt, lldt, ltr (marking the guest's TSS busy), rdmsr and wrmsr
//     (a small qemu32-like MSR table, msr.go), cpuid (the platform's model);
//   - the sensitive instructions with the guest's answers — smsw, sgdt,
//     sidt, sldt, str, lar, lsl, verr, verw, pushf, popf, mov from and push
//     of segment registers — which a binary translator or KVM's completion
//     needs even though they never trap here;
//   - iret (same ring and outer ring), lret, ljmp, lcall (direct, through
//     memory, and through call gates, including the stack switch to an
//     inner ring from the guest's TSS), and every segment load (mov, pop,
//     lds..lss), with the real CPU receiving the shadow selector and
//     descriptor;
//   - hardware task switches (task.go): ljmp/lcall to a TSS or a task
//     gate, iret with NT set, and an event through a task gate of the
//     guest's IDT (Emulator.TaskGate), against the guest's TSSs;
//   - int n, int3 and into, which complete and come back as a software
//     interrupt (Fault.Soft) for the VMM to reflect through the guest's IDT
//     (the gate-DPL check belongs to that reflection).
//
// Everything else — undecodable bytes, debug registers, 16-bit task switches,
// virtual-8086 mode, innocuous instructions — is an error that names the
// address, the bytes and the decoded text, which the VMM turns into a
// guest crash report. sysenter and sysexit are not the emulator's: the VMM
// performs them (sysenter.go), because they move between rings the way no
// host register write can (sysenter arrives at the machine's site hook, a
// real iret carries sysexit's return to ring 3). Guest-visible exceptions (#GP, #NP,
// #SS, #TS, #UD, #PF) are Outcome.Fault, never errors, and leave the
// machine as it was before the instruction (but for the registers of a rep
// string instruction stopped part-way, and CR2 for a #PF).
//
// On the timing path the hottest of these, cli, sti and the write to the
// POST port, are emulated in C once this emulator has emulated a site and
// armed it (fast.go): the same events, counted without entering Go.
//
// Not modelled: segment limit checks on data accesses (virtsim's guests use
// flat segments and Unicorn does not enforce limits either), alignment
// checks, CR4.PVI/VME virtual interrupts, 16-bit code segments (decoding is
// always 32-bit), a task switch that raises the real CPL (the substrate
// refuses a privilege raise by a register write).
package trap
