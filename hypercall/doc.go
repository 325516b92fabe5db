// Package hypercall is virtsim's paravirtual strategy, pv: Xen's answer to
// the x86 problem, and the guest ABI that goes with it.
//
// # Why paravirtualize
//
// Trap-and-emulate (package trap) runs the guest kernel deprivileged and
// waits for it to fault. On x86 that is slow and not even correct. Slow,
// because every privileged instruction is a round trip: the CPU takes a
// fault into the VMM, the VMM decodes the instruction from guest memory,
// emulates it against the virtual CPU and returns — thousands of cycles for
// a cli that costs one. A kernel toggles the interrupt flag constantly, and
// a console driver touches a port twice per byte. Not correct, because of
// the seventeen sensitive instructions that do not fault at all (pushf,
// sgdt, mov %cs, ...): they quietly show the VMM's state to the guest.
//
// Paravirtualization (Denali, then Xen in 2003) changes the guest instead of
// the hardware: the kernel is ported to the VMM's interface. Where it would
// execute a privileged instruction it asks the VMM directly, with a
// hypercall — a system call to the hypervisor — that says what it wants, so
// nothing has to be decoded. Better, it can ask for many things at once
// (a whole console line, a batch of page-table updates: multicall), and
// much of what used to be privileged becomes plain memory: the virtual
// interrupt flag is a byte in a page shared with the VMM, so cli and sti
// are stores that cost nothing. The VMM only has to be told when something
// needs it — an event pending when the guest unmasks. And since the kernel
// asks for sensitive state instead of executing the instruction, the
// Popek-Goldberg hole closes: pgprobe prints bare metal's answers under pv.
//
// The cost is the guest: it must be modified. Xen needed a port of Linux
// (later the pv_ops layer, which lets one Linux binary run on hardware and
// on Xen) and could not run Windows. virtsim's guests are written against
// a pv_ops-style macro layer from the start (guest/src/include/pvops.inc):
// every workload builds twice, images/NAME.elf and images/NAME.pv.elf, and
// `objdump -d` of the two shows exactly what changes (guest/doc.go). pv runs
// only the PV build; hardware assist (VT-x, AMD-V) later made the question
// moot for most uses, which is why Xen's PV mode is history — and why it is
// worth seeing once.
//
// # The ABI
//
// The guest kernel runs at CPL 1 under ring compression, exactly as under
// trap (it reuses trap's deprivileging: the VMM owns the real GDT, IDT and
// TSS, and shadows the guest's GDT with DPL 0 turned into DPL 1); its
// selectors run with RPL 1, and user code at CPL 3.
//
// Two pages at fixed guest-physical addresses (identity-mapped by a guest
// that pages), in low memory below the multiboot info block where no image is
// loaded; the VMM fills both before the guest's first instruction and
// refuses images that overlap them or lack the PV build's signature
// (ABIMagic):
//
//	0x7000  the hypercall page: 128 stubs of 32 bytes
//	0x8000  the shared-info page
//
// A hypercall is `call 0x7000 + 32*nr`, with arguments in EBX, ECX, EDX, ESI,
// EDI (Xen's registers), the result in EAX, every other register preserved.
// Errors are negative: -ENOSYS (38) for a number with no call, -EINVAL (22)
// for a bad argument, -EFAULT (14) for a pointer outside guest RAM (the VMM
// never reads or writes its own memory for the guest). A bad hypercall never
// stops the VMM. The stub is whatever suits the substrate, which is why
// guests call the page instead of trapping themselves:
//
//	Unicorn: movl $nr, %eax; int $0x82; ret    (Xen's historic vector: the real IDT
//	                                            sends it into the VMM; from user
//	                                            mode it is a #GP, as with Xen's
//	                                            DPL-1 gate)
//	KVM:     movl $nr, %eax; outl %eax, $0xe0; ret   (vmcall never reaches user
//	                                            space on these machines; port 0xE0
//	                                            (HcallPort) has no device, so the
//	                                            out exits to the user-space VMM)
//
// Page builds either (StubInt82, StubPortIO). Byte 8 of every stub is an
// iret, where the iret hypercall resumes the guest.
//
// The shared-info page (offsets; the VMM writes all but the mask and the
// guest-owned half):
//
//	0x00  "VSPV" magic, 0x04 ABI version (1)
//	0x08  mask      byte, guest-written: 1 = events masked (the virtual IF is 0)
//	0x09  pending   byte: 1 = an event waits (set when the PIC presents an
//	                interrupt the guest has masked)
//	0x0A  vector    byte: the vector of the event being delivered
//	0x10  CR0, 0x14 CR2, 0x18 CR3, 0x1C CR4: the virtual control registers
//	0x20  GDTR {limit16, base32} as set_gdt registered it
//	0x28  IDTR {limit16, base32}: the trap table set_trap_table registered
//	0x800 the guest's own half (the VMM never touches it): 0x800 the TR
//	      selector PV_LTR recorded, 0x804 a flag of the failure path
//
// The hypercalls (numbers are Xen's where Xen has the call; virtsim's own
// from 48):
//
//	 0 set_trap_table  ebx = &{limit, base} of the guest's IDT (hardware gate format):
//	                   exception and system-call handlers, registered once. Exceptions
//	                   reach the VMM and bounce into the handler (read from the table at
//	                   delivery, like the IDTR); the system-call gate (0x80, DPL 3) is
//	                   copied straight into the real IDT — a guest user `int $0x80`
//	                   reaches the guest kernel with no exit. (If the guest fills the gate
//	                   after registering, as virtsim's runtime does, the first system
//	                   call reaches the VMM, which installs it then; changing an installed
//	                   gate needs another set_trap_table, as with Xen. The CPU cannot
//	                   write the shared-info page, so the direct gate cannot mask events
//	                   on entry: the handler starts with events as user mode had them.
//	                   Xen refuses the direct path for a gate that asks for masking, as
//	                   the runtime's interrupt gate does; virtsim installs it anyway, since
//	                   its user code never runs with the timer armed.)
//	 2 set_gdt         ebx = &{limit, base}: validated (at most 8189 entries, in RAM, no
//	                   gates: a call gate could lead into the VMM) and shadowed
//	 3 stack_switch    ebx = ss, ecx = esp: the kernel stack for entries from user mode,
//	                   the real TSS's SS1:ESP1 (ss: a kernel data segment)
//	 4 set_callbacks   ebx = cs, ecx = eip: the event callback
//	13 multicall       ebx = entries, ecx = count (at most 64): each entry is {op, result,
//	                   args[6]} (32 bytes); one exit for all; each result written back
//	                   (io_in leaves its value in args[2]); iret, block, halt and
//	                   multicall itself are refused inside
//	18 console_io      ebx = 0 (write), ecx = count (at most 4096), edx = buffer: the
//	                   whole string in one exit; returns count
//	23 iret            the stack holds the call's return address, the saved EAX and an
//	                   iret frame: return from a handler and deliver the event that is
//	                   pending (PV_IRET uses it only then); does not return
//	26 mmuext_op       ebx = 5 new_baseptr (ecx = page-aligned CR3 in RAM; once the
//	                   guest pages, the directory is validated whole ("pinned") and
//	                   loaded into the real CR3), 6 tlb_flush_local, 7 invlpg_local
//	                   (ecx = address)
//	29 sched_op        ebx = 0 yield, 1 block (unmask events and wait for one: Xen's
//	                   SCHEDOP_block, one step, as PV_SAFE_HALT needs), 2 shutdown
//	                   (ecx = status: the VM stops with its low byte, like the
//	                   debug-exit port), 64 halt (wait, mask unchanged: PV_HLT)
//	32 event_channel_op ebx = 4 send, ecx = port: the block ring's notification (the
//	                   backend, package blkring, serves the ring at once, sets the
//	                   port's bit at shared info 0x30); -EINVAL for a broken ring
//	48 io_out          ebx = port, ecx = size (1, 2, 4), edx = value: the virtual devices
//	49 io_in           ebx = port, ecx = size: EAX = 0, the value in EDX
//	50 set_cr0         ebx = value: PE stays set, no reserved bits; PG starts direct
//	                   paging on the registered directory (validated first) and stays
//	                   on; recorded and published
//	 1 mmu_update      ebx = address of a page-table or directory entry (physical while
//	                   paging is off, linear after), ecx = new value: Xen's direct
//	                   paging — validated (a frame of guest RAM; never a writable
//	                   mapping of a page that holds a table; not the VMM's directory
//	                   slots 1020-1023) and written; -EINVAL/-EPERM/-EFAULT otherwise
//	52 set_cr4         ebx = value: only PSE (4 MiB pages) may be set (virtsim's own
//	                   call: Xen fixes CR4 for its guests)
//	51 event_check     nothing: the pending event is delivered on the way back
//	53 blkif_connect   ebx = page-aligned ring page in guest RAM, not the VMM's pages:
//	                   granted to the disk backend; returns the event-channel port (1)
//
// # Events
//
// Interrupts are events. The VMM takes the timer's interrupt from the PIC
// only while the guest's mask is clear and it has registered a callback;
// otherwise the request waits in the PIC's IRR — visible to the guest, which
// the timer workload checks — and the VMM sets the pending flag. When the
// guest unmasks (PV_STI, PV_POPF, PV_IRET) it tests the flag and makes a
// hypercall only if it is set. An event is delivered as an upcall: the VMM
// masks events, writes the vector to the shared-info page and enters the
// callback with an interrupt frame (the guest's view: CS with RPL 0, EFLAGS
// with the virtual IF), switching to the stack_switch stack from user mode.
// The PV runtime's callback (pv_event_callback in pvops-pv.inc) jumps to the
// guest's own handler for the vector from its trap table, so the timer
// workload's IRQ 0 handler runs unchanged and returns with PV_IRET: a real
// iret (CS RPL 1, legal at CPL 1), with the frame's IF stored into the mask.
//
// The timer's PIT and PIC stay the virtual devices they are under every
// other strategy, programmed through io_out/io_in: the workload's output
// depends on their exact semantics (one-shot, periodic, a masked request
// held in IRR), and the same source must run natively. A timer hypercall
// (Xen's set_timer_op) would need a different guest.
//
// # What becomes of each pv_ops macro
//
//	PV_CLI, PV_STI       a store to the mask (+ the pending test)     no exit
//	PV_PUSHF, PV_POPF    pushfl/popfl with IF from/to the mask        no exit
//	PV_IRET              iret, IF into the mask                       no exit (iret hypercall if an event waits)
//	PV_SAFE_HALT         sched_op block                               1 exit
//	PV_HLT               sched_op halt                                1 exit
//	PV_OUTB, PV_INB      io_out, io_in                                1 exit
//	PV_LGDT              set_gdt                                      1 exit
//	PV_LIDT              multicall{set_trap_table, set_callbacks}     1 exit
//	PV_SET_KSTACK        the guest's TSS as natively + stack_switch   1 exit
//	PV_LTR, PV_STR       the guest-owned TR field                     no exit
//	PV_SGDT, PV_SIDT     the registered tables, from shared info      no exit
//	PV_READ_CR0, PV_SMSW the virtual CR0, from shared info            no exit
//	PV_WRITE_CR0         set_cr0                                      1 exit
//	PV_READ_CR3          shared info; PV_WRITE_CR3: mmuext_op         0 / 1 exit
//	PV_READ_CS, _SS      mov, RPL 1 shown as 0                        no exit
//	PV_LAR               lar, DPL 1 shown as 0                        no exit
//	PV_LOAD_SEGS         ljmp and segment loads with RPL-1 selectors  no exit
//	PV_CPUID             cpuid (the machine's CPU model answers)     no exit
//	PV_CONSOLE_WRITE     console_io write: one per line               1 exit
//	PV_EXIT              sched_op shutdown                            1 exit
//
// A macro whose native instruction cannot fail stops the guest with
// "pv: hypercall failed" if the VMM refuses it (a guest bug). If a PV image
// executes a privileged instruction after all, the VMM falls back to
// trap-and-emulate and the run's notes say so.
//
// # Counting
//
// A hypercall is an exit with mechanism hypercall. One that does exactly
// what one native instruction does is recorded under that instruction's
// cause (io/out:0x80, priv/lgdt, priv/lidt, priv/mov-cr0, priv/mov-cr3,
// hlt), so tables compare row by row with trap's traps; the others are
// hypercall/NAME (hypercall/console_io:write, hypercall/sched_op:block,
// hypercall/multicall, ...). The entries of a multicall are counters
// (multicall/NAME), beside its one exit. Exceptions and software interrupts
// that bounce through the VMM are trap exits, as is an interrupt that
// arrives while the guest runs unmasked; an interrupt delivered on the way
// out of a hypercall (block, event_check, iret, an io_out that unmasks the
// PIC) costs no exit of its own and is a shared-info event.
//
// The in-place operations never reach the VMM, yet they are exactly what
// trap counts as exits, so pv counts them as shared-info events under their
// native causes (priv/cli, priv/sti, priv/iret, sens/pushf, sens/popf,
// priv/mov-from-cr0, sens/sgdt, ...). Each macro touches the shared-info
// page with one marker instruction of a form unique to it; the VMM finds
// the markers by decoding the image (as the machine finds I/O instructions)
// and counts their executions with C counters on their single addresses —
// or, when a run keeps a trace or reports events live (the TUI), records
// each with a Go hook, PC and instruction count included. Same counts
// either way.
//
// # The cost of a hypercall, and the POST port in C
//
// An exit is still an exit: the `int $0x82` makes Unicorn leave its
// translated code, and the Go handler reads the registers, finds the call
// site on the guest stack, performs the call and writes the result back;
// measured, about 9 bare interrupt-hook round trips per call, where issue
// 16 asks for 2. Cutting the Go path (batched reads, no allocations,
// interned causes: already so) cannot close that gap, since the exception
// and the crossing into Go alone cost about as much as the bound. So the
// hottest calls run in C (fast.go), the scheme trap uses for cli, sti and
// the POST write: io_out and io_in of one byte at the POST port 0x80,
// whose whole effect is their result and their event. The Go path performs
// each such call first and then arms the stub's int for the engine's C
// side with what it did; C performs the next ones at a code hook on the
// int, before it runs (no exception), while EIP, CS, CR0, CR3, the stub's
// bytes and EAX, EBX, ECX are as armed, and only in a timing run with
// nothing pending (no interrupt, pause, trace, timer, paging). The events
// are recorded at the next entry into Go (same cause, mechanism hypercall,
// one each, in order before that entry's own), which also disarms the stub
// until the Go path performs such a call again. The counts of a timing run
// equal its counting pass's, which never arms (TestFastHypercalls).
//
// Exits per iteration, pv against trap (the laws pinned in the tests):
// hello 1 vs 56 (a line), io 1 vs 1, syscall 0 vs 1, irq-toggle 0 vs 2,
// divzero 1 vs 2 (the #DE still bounces; its iret does not trap), pgprobe 2
// vs 5, timer 2 vs 6 (block and the EOI), cpuid, compute, call-ret 0.
package hypercall
