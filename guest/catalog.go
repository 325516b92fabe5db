package guest

import (
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// images holds the committed workload images built by guest/src/build.sh:
// NAME.elf (the native build) and NAME.pv.elf (the paravirtual build of the
// same source, assembled with --defsym PV=1).
//
//go:embed images/*.elf
var images embed.FS

// Workload is one entry of the catalogue: a guest program and what it is
// documented to do per iteration.
type Workload struct {
	Name        string
	Description string // one line, for `virtsim list`
	// DefaultArgs is the command line the workload documents as its default
	// (the same values the guest uses when an argument is absent).
	DefaultArgs string
	// Image is the native ELF image (guest/images/NAME.elf).
	Image []byte
	// PVImage is the paravirtual build (guest/images/NAME.pv.elf): the same
	// source with the PV expansions of the pv_ops macros. Only the pv
	// strategy (package hypercall) runs it; see LoadFor.
	PVImage []byte
	// ExitsPerIter documents the events one iteration causes, by cause
	// (DESIGN.md section 3), e.g. "1 io/out:0x80". One-time events (set-up,
	// the console output of the result line) are documented in the
	// source's header comment.
	ExitsPerIter string
	// Source is the workload's assembly source, relative to the repository.
	Source string
	// Paging: the workload turns paging on. Until every Unicorn strategy
	// virtualizes the MMU, paging workloads are listed apart (PagingCatalog)
	// and not part of Catalog, which every strategy's test suite runs.
	Paging bool
	// Disk, if set, makes the default disk the workload runs with (a raw
	// image: DiskContents, StreamImage): Load attaches it to the image and
	// the QEMU oracle boots with it as the IDE master.
	Disk func() ([]byte, error)
	// Refused names the strategies that refuse this workload by design,
	// with the reason (shown instead of a run by `virtsim table`).
	Refused map[string]string
}

// Load loads the workload's native image for guest RAM of memSize bytes.
func (w Workload) Load(memSize uint32) (*Image, error) {
	if len(w.Image) == 0 {
		return nil, fmt.Errorf("guest: workload %s: no image embedded (run guest/src/build.sh): %w", w.Name, ErrEmptyImage)
	}
	im, err := LoadELF(w.Image, memSize)
	if err != nil {
		return nil, fmt.Errorf("guest: workload %s: %w", w.Name, err)
	}
	im.Name = w.Name
	if err := w.attachDisk(im); err != nil {
		return nil, err
	}
	return im, nil
}

// attachDisk gives the image the workload's default disk.
func (w Workload) attachDisk(im *Image) error {
	if w.Disk == nil {
		return nil
	}
	d, err := w.Disk()
	if err != nil {
		return fmt.Errorf("guest: workload %s: its disk: %w", w.Name, err)
	}
	im.Disk = d
	return nil
}

// LoadPV loads the workload's paravirtual image for guest RAM of memSize
// bytes.
func (w Workload) LoadPV(memSize uint32) (*Image, error) {
	if len(w.PVImage) == 0 {
		return nil, fmt.Errorf("guest: workload %s: no PV image embedded (run guest/src/build.sh): %w", w.Name, ErrEmptyImage)
	}
	im, err := LoadELF(w.PVImage, memSize)
	if err != nil {
		return nil, fmt.Errorf("guest: workload %s (PV build): %w", w.Name, err)
	}
	im.Name = w.Name
	if err := w.attachDisk(im); err != nil {
		return nil, err
	}
	return im, nil
}

// LoadFor loads the image a strategy runs: the PV build when pv is set
// (vmm.Strategy.PV), else the native one.
func (w Workload) LoadFor(pv bool, memSize uint32) (*Image, error) {
	if pv {
		return w.LoadPV(memSize)
	}
	return w.Load(memSize)
}

// catalog is the metadata of every workload; the images come from images/.
// Keep each entry in sync with the header comment of its source file.
var catalog = []Workload{
	{
		Name:        "disk",
		Description: "reads n sectors, writes n sectors, flushes and reads them back (ATA PIO natively, the paravirtual ring with ring=1 and in the PV build)",
		DefaultArgs: "n=16",
		ExitsPerIter: "per sector read 263 (6 io/out + 1 io/in:0x1f7 + 256 io/in:0x1f0 elements), per sector written 264; " +
			"1 notification per ring batch of up to 256 sectors",
		Disk: func() ([]byte, error) { return DiskContents(128), nil },
	},
	{
		Name: "streaming",
		Description: "boots a program streamed from the disk: a loader reads its sectors (ATA PIO natively, " +
			"the paravirtual ring with ring=1 and in the PV build), checks them, runs the program; n boots, each streamed afresh",
		DefaultArgs: "n=1",
		ExitsPerIter: "per boot, per program sector 263 (6 io/out + 1 io/in:0x1f7 + 256 io/in:0x1f0 elements); " +
			"1 notification per ring batch of up to 256 sectors; then the program's console line",
		Disk: func() ([]byte, error) { return StreamImage(0) },
	},
	{
		Name:         "hello",
		Description:  "prints a greeting line n times",
		DefaultArgs:  "n=1",
		ExitsPerIter: "28 io/in:0x3fd + 28 io/out:0x3f8 (one 28-byte console line; 1 console_write when paravirtualized)",
	},
	{
		Name:         "compute",
		Description:  "ALU loop (xorshift and checksum) with no exits",
		DefaultArgs:  "n=100000",
		ExitsPerIter: "0 (17 register-only instructions)",
	},
	{
		Name:         "io",
		Description:  "n writes to the POST port 0x80, the cheapest I/O exit",
		DefaultArgs:  "n=4000",
		ExitsPerIter: "1 io/out:0x80",
	},
	{
		Name:         "io-in",
		Description:  "n reads of the POST port 0x80 (Adams & Agesen's in; each read returns 0xff)",
		DefaultArgs:  "n=4000",
		ExitsPerIter: "1 io/in:0x80",
	},
	{
		Name:         "syscall",
		Description:  "ring-3 code makes n int $0x80 system calls to a ring-0 handler",
		DefaultArgs:  "n=4000",
		ExitsPerIter: "1 int/0x80 (the handler returns with iret)",
	},
	{
		Name:         "sysenter",
		Description:  "ring-3 code makes n fast system calls (sysenter/sysexit) to a ring-0 handler",
		DefaultArgs:  "n=4000",
		ExitsPerIter: "1 priv/sysenter (the handler returns with sysexit: 1 priv/sysexit more where the guest kernel is deprivileged)",
		Refused: map[string]string{
			"pv": "virtsim's paravirtual ABI has no sysenter callback (Xen registers one with CALLBACKOP_register, CALLBACKTYPE_sysenter)",
		},
	},
	{
		Name:         "irq-toggle",
		Description:  "n cli/sti pairs",
		DefaultArgs:  "n=4000",
		ExitsPerIter: "1 priv/cli + 1 priv/sti",
	},
	{
		Name:         "cpuid",
		Description:  "prints the CPUID leaves the guest sees, then n cpuid instructions",
		DefaultArgs:  "n=4000",
		ExitsPerIter: "1 cpuid",
	},
	{
		Name:         "divzero",
		Description:  "n divisions by zero, each handled by the guest's #DE handler",
		DefaultArgs:  "n=4000",
		ExitsPerIter: "1 exc/#DE (the handler returns with iret)",
	},
	{
		Name:         "call-ret",
		Description:  "n nested call/ret pairs computing a checksum",
		DefaultArgs:  "n=100000",
		ExitsPerIter: "0 (2 call/ret pairs, one nested: indirect-branch lookups under binary translation)",
	},
	{
		Name:        "pgprobe",
		Description: "Popek-Goldberg probe: what pushf/popf, mov %cs, sgdt, sidt, str, smsw, lar show the kernel",
		DefaultArgs: "n=1",
		ExitsPerIter: "per round: 2 priv/cli + 2 priv/mov-cr0 (write) + 1 priv/mov-from-cr0; " +
			"pushf, popf, mov %cs, mov %ss, sgdt, sidt, str, smsw, lar execute without exiting",
	},
	{
		Name: "smc",
		Description: "self-modifying code: patches a function never run, one just run through a chained call, " +
			"the next instruction of the running block, and a taken jump's target; runs each at once",
		DefaultArgs:  "n=100",
		ExitsPerIter: "0 (no privileged instruction; a binary translator invalidates and retranslates, which is no guest exit)",
	},
	{
		Name: "timer",
		Description: "PIT and PIC: a one-shot IRQ 0, n periodic ticks waited for with hlt, " +
			"a masked request delivered once on unmask (also takes k=K for n)",
		DefaultArgs: "n=10",
		ExitsPerIter: "per periodic tick: 1 irq/0 + 1 hlt + 1 priv/cli + 1 priv/sti + " +
			"1 io/out:0x20 (the handler's EOI; it returns with iret)",
	},
	{
		Name:         "higherhalf",
		Description:  "paging kernel: higher half through a 4 MiB page, aliases, two address spaces, ring-3 system calls",
		DefaultArgs:  "n=100",
		ExitsPerIter: "2 priv/mov-cr3 + 2 PTE writes + 2 priv/invlpg + 1 int/0x80",
		Paging:       true,
		Refused: map[string]string{
			"pv": "its recursive entry is in directory slot 1023, which direct paging reserves for the VMM (as Xen does)",
		},
	},
	{
		Name:         "pgfault",
		Description:  "demand paging: n page faults filled in by the guest's #PF handler (Adams & Agesen's pgfault)",
		DefaultArgs:  "n=1000",
		ExitsPerIter: "1 exc/#PF + 2 PTE writes + 1 priv/invlpg",
		Paging:       true,
	},
	{
		Name: "forkwait",
		Description: "two ring-3 processes with their own page directories: n rounds of fork (copy-on-write), " +
			"the child's write, exit and wait (Adams & Agesen's forkwait)",
		DefaultArgs: "n=100",
		ExitsPerIter: "3 int/0x80 (fork, exit, wait) + 2 priv/mov-cr3 + 2 exc/#PF (a COW copy in the child, " +
			"a COW reuse in the parent; error code 7) + 7 PTE writes + 2 priv/invlpg",
		Paging: true,
	},
	{
		Name:         "ptemod",
		Description:  "n PTE updates, each followed by invlpg and a use (Adams & Agesen's ptemod)",
		DefaultArgs:  "n=1000",
		ExitsPerIter: "1 PTE write + 1 priv/invlpg",
		Paging:       true,
	},
	{
		Name:         "pftrue",
		Description:  "n true page faults, each checked by the guest's #PF handler, which maps nothing and resumes after the read (Adams & Agesen's pgfault as the paper describes it)",
		DefaultArgs:  "n=1000",
		ExitsPerIter: "1 exc/#PF + 1 priv/mov-from-cr2 (the handler returns with iret)",
		Paging:       true,
	},
	{
		Name:         "ptestore",
		Description:  "n × 4 stores to a PTE of a page table in use, no invlpg, no use (Adams & Agesen's ptemod as the paper describes it)",
		DefaultArgs:  "n=1000",
		ExitsPerIter: "4 PTE writes",
		Paging:       true,
	},
}

// Catalog returns every workload that runs with paging off, sorted by
// name, with its embedded images.
// A workload whose image is missing from the build has a nil Image (Load
// and Lookup report it).
func Catalog() []Workload { return workloads(false) }

// PagingCatalog returns the workloads that turn paging on (see
// Workload.Paging), sorted by name.
func PagingCatalog() []Workload { return workloads(true) }

// All returns every workload, paging or not, sorted by name.
func All() []Workload {
	out := append(Catalog(), PagingCatalog()...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func workloads(paging bool) []Workload {
	var out []Workload
	for _, w := range catalog {
		if w.Paging != paging {
			continue
		}
		w.Source = "guest/src/workloads/" + w.Name + ".s"
		if b, err := images.ReadFile("images/" + w.Name + ".elf"); err == nil {
			w.Image = b
		}
		if b, err := images.ReadFile("images/" + w.Name + ".pv.elf"); err == nil {
			w.PVImage = b
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the workload names, sorted.
func Names() []string {
	var names []string
	for _, w := range All() {
		names = append(names, w.Name)
	}
	return names
}

// Lookup returns the named workload. An unknown name is an error listing
// the valid ones (wrapping ErrUnknownWorkload).
func Lookup(name string) (Workload, error) {
	for _, w := range All() {
		if w.Name == name {
			if len(w.Image) == 0 {
				return Workload{}, fmt.Errorf("guest: workload %s: image missing from the build (run guest/src/build.sh): %w", name, ErrEmptyImage)
			}
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("guest: %q (valid: %s): %w", name, strings.Join(Names(), ", "), ErrUnknownWorkload)
}

// ParseResult finds the result line of workload name in its serial output
// (the last line "name: ..." that has an n= field) and returns its
// key=value fields.
func ParseResult(name, output string) (map[string]string, error) {
	var fields map[string]string
	for _, line := range strings.Split(output, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), name+": ")
		if !ok {
			continue
		}
		f := map[string]string{}
		for _, w := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(w, "="); ok {
				f[k] = v
			}
		}
		if _, ok := f["n"]; ok {
			fields = f
		}
	}
	if fields == nil {
		return nil, fmt.Errorf("guest: no result line %q in the output of %s", name+": n=...", name)
	}
	return fields, nil
}

// ResultUint returns field key of a ParseResult map as a number (decimal or
// 0x-hex).
func ResultUint(fields map[string]string, key string) (uint64, error) {
	v, ok := fields[key]
	if !ok {
		return 0, fmt.Errorf("guest: result line has no %s= field", key)
	}
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("guest: result field %s=%q: %w", key, v, err)
	}
	return n, nil
}
