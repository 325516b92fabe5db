// Package translate is virtsim's binary translator: the strategy "bt",
// full virtualization the way VMware's first products did it on x86
// processors that could not trap every sensitive instruction.
//
// # Why translate
//
// Trap-and-emulate (package trap) runs the guest kernel deprivileged, at
// CPL 1, and relies on every instruction that touches privileged state to
// fault. On x86 seventeen of them do not (Robin and Irvine's list): pushf
// shows the real interrupt flag, popf silently ignores a change to it,
// sgdt and smsw show the VMM's tables, mov %cs shows RPL 1, ... The
// guest's pgprobe workload prints what they reveal. A binary translator
// closes the hole by never letting the guest kernel's code run as it is:
// it reads the code, and runs a translation of it, in which every
// sensitive instruction has been replaced by code that does what the
// guest meant, on the guest's virtual CPU.
//
// Guest user code (CPL 3) runs directly: at CPL 3 the sensitive
// instructions either fault or do no harm, as under trap.
//
// # Basic blocks and the translation cache
//
// The unit of translation is a basic block: at most 12 guest instructions,
// ending at the first control-flow instruction (jmp, jcc, call, ret, iret,
// int, far jumps, ...). The translator decodes it with
// golang.org/x/arch/x86/x86asm and emits x86 machine code into the
// translation cache (TC), in the VMM region at the top of the address
// space. The TC is ordinary memory that Unicorn executes like any code.
// Every entry into the guest kernel lands in the TC: the boot entry, a
// reflected interrupt or exception (trap asks Redirect where its handler
// really is), a return from an emulated iret.
//
// Each instruction gets one of a few treatments, a table tested in
// testdata/kinds.txt:
//
//   - IDENT: most instructions (mov, add, push, div, string operations,
//     segment loads, cpuid, ...) are copied unchanged: they mean the same
//     at CPL 1 as at CPL 0 — segment loads because the VMM's shadow GDT
//     only moved DPL 0 to DPL 1. This is why binary translation is fast:
//     the common case costs nothing.
//   - In-TC (non-IDENT, no exit): cli and sti become a store of the
//     virtual interrupt flag into a guest-owned VMM page; pushf and popf
//     merge the virtual IF and IOPL into the flags image (tables and lea,
//     which leave the real flags alone); sgdt, sidt, sldt, str and smsw
//     read the virtual CPU's registers from a read-only VMM page; mov and
//     push of a segment register pass the real selector through a
//     64 Ki-entry table that shows RPL 1 as the guest's RPL 0. Each executes as a
//     handful of instructions with no exit at all — the guest's in-tc
//     events are counted in C on those instructions, as counted sites of
//     the TC's instruction counter (unicorn.Counter.CountSite: a bitmap
//     test and a table, not a code hook each, since Unicorn walks every
//     code hook at every hooked instruction) — in the counting pass only:
//     that counter is a code hook on the whole TC, so a timing pass has
//     none and reports in-tc as uncounted (vmm.Result.Uncounted; its other
//     counts still match the counting pass).
//   - Callouts (non-IDENT, an exit): privileged instructions (mov to CR0,
//     lgdt, hlt, ...), port I/O, int n, iret into the kernel, far jumps,
//     lar/lsl/verr/verw (answered at the virtual CPL) and loads of SS become a jump to a callout stub. The stubs form a small
//     area of the VMM region covered by one code hook, so a callout costs
//     one crossing from C into Go; the stub's address says which callout it
//     is. trap's emulator then runs the instruction against the virtual
//     CPU, at the guest's address, and the guest continues at the next
//     instruction's translation. I/O is never copied: at CPL 1 Unicorn
//     would execute in/out without faulting.
//   - Control flow is rewritten: see chaining and lookups.
//
// Scratch registers: an in-TC sequence that needs a register saves it in
// the guest-owned page and restores it after; sequences never change the
// guest's flags (mov, lea, movzx, cmov, jecxz only).
//
// # Chaining
//
// A direct jump or branch to a guest address becomes a jump to an exit
// stub: a callout asking the translator for the target's translation. The
// translator then patches the jump itself (a host write of its rel32
// field, and RemoveCache so that Unicorn forgets its own translation of
// the old bytes) to lead straight to the target's code. After the first
// pass through a loop its blocks are chained to one another, and the loop
// runs entirely inside the TC with no translator activity: the tests check
// that N and 2N iterations cost the same translator work. A call pushes
// the guest's return address (never a TC address: the guest may look at
// its stack) and continues at the callee like a jump. A block cut at the
// 12-instruction limit is laid out so that it falls through into its
// continuation, and the CPU runs both as one.
//
// # Returns and indirect jumps
//
// A ret's target is known only at run time, and it is a guest address.
// The TC looks it up itself, through two tables, changing no flag (the
// guest's flags are live across a return) and borrowing one register:
// `mov %ecx,save_ecx; movzwl 2(%esp),%ecx; mov l1(,%ecx,4),%ecx; mov
// (%esp),%cx; jmp *bias(,%ecx,4)` — the entry for the target's high 16
// bits is a quarter of the table of its low 16 bits' offset from the bias
// (one of four tables, taken over in turn when more high halves are in
// use; the others share an all-miss table; each table aligned so that its
// quarter leaves the low 16 bits free), the 16-bit load puts the target's
// low half there, and the table's entry leads to the target block's prologue,
// which pops the target, restores ECX and continues in the block. The
// lookup is exact, so the prologue checks nothing. (It used to go by the
// low 16 bits alone, with a check in the prologue, `lea -g(%ecx),%ecx;
// jecxz ok`: QEMU ends a translated block at every jecxz without chaining
// it, so each return went back through the CPU loop.) An empty entry leads
// to a callout: the translator translates the target and fills the entry.
// Indirect jumps and calls push their target and use the same lookup.
// call-ret hits in the table for 99.99% of its returns.
//
// # Interrupts and the virtual IF
//
// The guest's IF lives in the guest-owned page while translated code runs;
// the machine asks the VMM (Machine.VirtualIF) before it delivers an
// interrupt, so a request waits in the PIC while the virtual IF is clear.
// An in-TC sti that opens the IF on a waiting request must deliver it at
// once — after one more instruction, the sti shadow. So sti ends in an
// indirect jump through a slot in a read-only page: normally the slot
// leads on; while a request waits the VMM points it at a callout, which
// runs the next instruction as a one-instruction "shadow block" whose
// exits deliver the interrupt. popf does the same without the shadow.
//
// # Precise exceptions: the TC-to-guest map
//
// A fault raised by translated code must look to the guest as if its own
// instruction had faulted: divzero's handler checks that its frame holds
// the guest's div. For every instruction it emits, the translator records
// what guest state corresponds to the CPU standing there: a boundary
// before guest instruction X, or a recipe — restore the scratch registers,
// pop what the sequence pushed, or finish the sequence (a popf whose
// virtual part is done). When the VMM
// gets control in the TC — a fault, an interrupt at the start of a Unicorn
// block, a single step — it applies the recipe and reports the guest
// instruction. The map covers every instruction, so interrupts can be
// delivered wherever Unicorn starts a block, even one instruction at a
// time (the TUI's single step, which stops only at guest boundaries).
//
// # Coherence: self-modifying code
//
// Guest pages that hold translated code are write-protected in the VMM's
// page tables. A guest store into one faults (#PF, precise, with CR2); the
// VMM retires every translation from that page (unlinks its chained
// jumps, empties its lookup entries), makes the page writable again and
// restarts the store. If the store came from a block that has just been
// retired — the guest patched the code it is running — that block's next
// instruction is overwritten with a jump to a callout that continues at a
// fresh translation, so the rest of the block never runs stale. The smc
// workload patches code never run, code already chained to, the next
// instruction of the running block and a taken jump's target.
//
// Devices write guest memory too, where no store faults: the words of an
// emulated `rep insw`, the sectors a ring backend copies in. The machine
// reports each such write (vmm.Machine.DeviceWrote) and the translator
// retires the translations of the frames written (bt/dma-invalidations),
// as a CPU keeps its caches coherent with DMA. The streaming workload reads
// a program that patched itself last boot back over its translated code.
//
// The TC has a size (vmm.Config.TCSize: virtsim run or translate
// --tc-size); when it is full the translator flushes everything and starts
// again. Every workload prints the same with a 512-byte cache, which
// flushes dozens of times.
//
// # Protection: the VMM's own page tables
//
// VMware truncated the guest's segments so that guest code could not
// reach the VMM. Unicorn enforces no segment limits, so here the VMM runs
// the CPU with identity-mapped page tables of its own: the VMM region is
// supervisor-only (guest user code cannot touch it) and, with CR0.WP, the
// TC, the lookup table and the descriptor tables are read-only even for
// the guest kernel at CPL 1 (the VMM writes them from the host); only the
// guest-owned page of virtual state is writable. CR4.SMEP makes a
// supervisor fetch from guest RAM (a user page) fault, so the guest
// kernel can only ever run as its translation — by hardware, not only by
// construction (TestSMEP). A hostile guest that writes into the TC or the
// tables, or jumps into them, stops with the machine's report for an
// access beyond guest RAM, and the VMM is intact (TestHostileGuest).
//
// # Paging guests: shadow page tables
//
// When the guest sets CR0.PG the CPU leaves the translator's identity
// tables for a shadow of the guest's current address space, kept by trap's
// shadow MMU (package shadow) with the translator's pool and its own VMM
// directory entries in every shadow, so the TC and its tables stay where
// and as protected as they were (shadow.go). A hidden fault is filled and
// retried where the CPU stands in the TC (pf/hidden); a true fault is
// mapped back to the guest instruction and reflected (exc/#PF); mov to CR3
// and invlpg call out. Coherence becomes per frame: the frames translated
// code was read from are protected in every shadow, so a store through any
// alias retires their translations. Translations are keyed by linear PC,
// so after every CR0/CR3/CR4 write, traced page-table write and invlpg the
// translator walks the guest's tables for its translated pages and retires
// those that now map another frame (bt/remap-invalidations); an
// address-space switch that keeps the kernel's code in place costs nothing.
// A translated store that faults on a traced page table is retranslated as
// a callout that performs the write and updates the shadow without a page
// fault (ptstore.go: Adams & Agesen's reason BT wins ptemod; pt/write by
// callout, bt/pt-sites). A guest that maps its own pages where the VMM's
// region lies (higherhalf's recursive entry at 0xFFC00000, xv6's device
// window up to 4 GiB) gets them wherever the translator's page tables
// leave the region absent: the access faults with the guest's translation
// in hand, which is put in place until the guest's paging changes (pf/vmm-alias,
// trap.VMM.MapAlias). The translator's own pages — trap's tables, the
// virtual-CPU pages, the lookup tables, the TC as configured, the stubs,
// the trampoline, about 5 MiB of the 16 — stay the VMM's, and where the
// guest maps its RAM over them its accesses are emulated against its own
// frame (mem/vmm-overlay, overlay.go): loads by the machine's memory hook,
// stores by stepping the instruction with the guest's frame mapped (a copy
// of it on the step page after the TC when it lies on that very page).
// VMware fenced its region with segment limits, which Unicorn does not
// enforce.
//
// # Counters
//
// The translator's work is not a guest exit: Result.Counters holds
// bt/blocks, bt/insns (translated), bt/tc-bytes, bt/chain-patches (and
// bt/chain-direct, exits linked at translation), bt/lookup-hits and
// bt/lookup-misses, bt/callouts/KIND, bt/invalidations, bt/smc-faults,
// bt/flushes, bt/shadow-blocks. The guest's events are recorded as under
// every strategy: io/out:0x80 is a callout here, priv/cli an in-tc event.
// Result.Instructions counts what the CPU executed for the guest: user
// code from RAM and the kernel's translation in the TC; bt/tc-insns is the
// TC's share (translated guest instructions plus the translation's own
// code: lookups, in-TC emulation), so the two can be told apart.
//
// # Seeing it
//
// `virtsim translate --guest NAME` runs a guest and prints every block
// beside its translation, both disassembled, non-IDENT instructions
// marked; the terminal UI's translation view shows the block under the
// CPU (BT.Translation).
//
// # What it costs here
//
// Copied code runs at native speed (compute: bt/native about 1). Every
// store is slow in Unicorn 2.0.1 (~100 ns, a slow path for all of them),
// and a return lookup needs one to save its scratch register, so call-ret
// runs at about 2.2x native: the price of a flag- and register-preserving
// lookup on this substrate. BenchmarkThroughput measures both in one run.
package translate
