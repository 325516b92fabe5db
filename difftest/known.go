package difftest

// Known differences: where a strategy's outcome differs from QEMU's by
// design or because of the substrate, with the reason. Everything else
// that differs is a bug. README.md lists the same table.

// CorpusKey names one corpus guest under one strategy.
type CorpusKey struct{ Guest, Strategy string }

// Known is a documented difference.
type Known struct {
	Why string
}

// KnownCorpus are the corpus guests' documented differences.
var KnownCorpus = map[CorpusKey]Known{
	{"lar", "trap"}: {"lar runs at CPL 1 without trapping and reports the shadow descriptor's DPL " +
		"(DPL 0 shows as 1, DPL 1 as 2): a Popek–Goldberg hole (bt corrects it in the TC)"},
	{"ring3", "trap"}:      {userIF},
	{"ring3io", "trap"}:    {userIF},
	{"iobitmap", "trap"}:   {userIF},
	{"smcbuf", "native"}:   {staleCode},
	{"smcbuf", "trap"}:     {staleCode},
	{"smcalias", "native"}: {staleCode},
	{"smcalias", "trap"}:   {staleCode},
	{"ldt", "trap"}: {"lar/lsl/verr/verw and mov from CS run at CPL 1 without trapping and read the shadow LDT and the real CS: " +
		"DPL-0 LDT entries show DPL 1, the LDT's own descriptor (DPL 0) fails lar/lsl, the CS of LDT code shows RPL 1 " +
		"(the Popek–Goldberg hole, as for the GDT: corpus lar)"},
	{"gdtwrite", "trap"}: {staleShadowGDT},
	{"gdtwrite", "bt"}:   {staleShadowGDT},
	{"code16", "bt"}: {"bt translates flat 32-bit kernel code only (it decodes 32-bit instructions and places blocks by " +
		"linear address): kernel code in a code segment with a base or in a 16-bit one stops the run with that reason " +
		"(native and trap, which run kernel code on the CPU, agree with QEMU)"},
	{"ring1", "trap"}: {middleRings},
	{"ring1", "bt"}:   {middleRings},
	{"task", "trap"}: {"str runs at CPL 1 without trapping and shows the VMM's real TR (0xfff8), not the guest's: " +
		"the Popek–Goldberg hole (the task switches themselves are emulated and agree)"},
}

const userIF = "an event from user mode shows IF=1 in its frame after an iret to ring 3 with IF=0: " +
	"the guest kernel's iret to user mode runs natively at CPL 1, unseen by the VMM, so it never learns the IF " +
	"it popped and assumes user code runs with interrupts on (a Popek–Goldberg hole: at CPL 1 with IOPL 0 that " +
	"iret cannot change the real IF either); bt records it in its translated iret"

const staleShadowGDT = "trap and bt derive the real (shadow) GDT from the guest's at lgdt, ltr and lldt only: a descriptor " +
	"the kernel rewrites in its loaded GDT and then loads with mov to a segment register (which does not trap at CPL 1) " +
	"comes from the stale shadow (Linux's set_thread_area pattern). A VMM must trace writes to the pages of the guest's " +
	"GDT (write-protect them in the shadow page tables and re-derive the entry on each write, as VMware's did); not done. " +
	"Call gates are not affected: their shadow is never present, so a far call through one traps and the emulator reads " +
	"the guest's table"

const middleRings = "guest code at ring 1 or 2 is not virtualized: ring compression gives the guest kernel real ring 1, " +
	"which leaves the guest's rings 1 and 2 only real ring 2, and the VCPU (its CPL, its IOPL checks) knows rings 0 and 3; " +
	"the kernel's iret to ring 1 stops the run with that reason (native runs it as QEMU does)"

const staleCode = "libunicorn 2.1.1 (Debian stable's) misses a store that overwrites translated code once an earlier store " +
	"through the same TLB entry reached that page (code storing into its own page: corpus smcbuf; a kernel patching its " +
	"code twice through a writable alias: corpus smcalias): that store's write-detection clears the entry's flag (notdirty_write calls " +
	"tlb_set_dirty), so later stores through that entry no longer invalidate the page's translations and the old code " +
	"runs (Unicorn issue 2029, fixed in 2.1.2; a memory hook would avoid it but makes every load and store ~25x slower). " +
	"A TLB flush (CR3 or CR0 write, invlpg) ends it; bt is not affected: it write-protects the guest pages it translated"
