package vmstate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Format and Version identify the manifest. Version changes whenever a
// field's meaning changes; Load refuses any other version.
const (
	Format  = "virtsim-vmstate"
	Version = 1

	ManifestFile = "manifest.json"
	RAMFile      = "ram.bin"
	DiskFile     = "disk.bin"
)

// CacheCauses are the event causes whose counts a VMM's caches decide: a
// restore starts with them cold, so these may differ from an
// uninterrupted run's (see the package comment). Every other cause must
// not.
var CacheCauses = map[string]bool{"pf/hidden": true, "pt/write": true}

// State is one saved VM.
type State struct {
	Format  string `json:"format"`
	Version int    `json:"version"`

	// The guest: its workload name, image identity and configuration.
	Guest   string  `json:"guest"`
	Image   ImageID `json:"image"`
	Args    string  `json:"args"`
	MemSize uint32  `json:"mem_size"`

	// Strategy saved the state; Legs are the strategies it ran under so
	// far, oldest first (the last is Strategy's).
	Strategy string `json:"strategy"`
	Legs     []Leg  `json:"legs"`

	CPU CPU `json:"cpu"`
	// VMM is guest-visible state only one strategy holds, in its own
	// format (pv: the callbacks, kernel stack and pinned page tables the
	// guest registered by hypercall); such a state moves only to that
	// strategy.
	VMM     json.RawMessage   `json:"vmm,omitempty"`
	Machine Machine           `json:"machine"`
	Devices map[string]Fields `json:"devices"`

	// What the run produced so far.
	Serial       []byte            `json:"serial"` // base64 in JSON: the guest may write any byte
	Counts       []Count           `json:"counts"`
	Counters     map[string]uint64 `json:"counters,omitempty"`
	Instructions uint64            `json:"instructions"`

	RAM  Blob  `json:"ram"`
	Disk *Blob `json:"disk,omitempty"`

	RAMData  []byte `json:"-"`
	DiskData []byte `json:"-"`
}

// ImageID names the guest image: the name and a digest of what it loads,
// so a state is never continued with another image.
type ImageID struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	PV     bool   `json:"pv"` // the paravirtual build
}

// Leg is one stretch of the run under one strategy.
type Leg struct {
	Strategy     string `json:"strategy"`
	Instructions uint64 `json:"instructions"` // counted under this leg
	Exits        uint64 `json:"exits"`
	Events       uint64 `json:"events"`
}

// Count is one line of the exit table.
type Count struct {
	Cause string `json:"cause"`
	Mech  string `json:"mech"`
	N     uint64 `json:"n"`
}

// DTR is a descriptor-table register.
type DTR struct {
	Base  uint32 `json:"base"`
	Limit uint16 `json:"limit"`
}

// CPU is the guest's architectural CPU state: what it would read on a
// real processor, whatever the VMM really runs it on.
type CPU struct {
	EAX    uint32 `json:"eax"`
	ECX    uint32 `json:"ecx"`
	EDX    uint32 `json:"edx"`
	EBX    uint32 `json:"ebx"`
	ESP    uint32 `json:"esp"`
	EBP    uint32 `json:"ebp"`
	ESI    uint32 `json:"esi"`
	EDI    uint32 `json:"edi"`
	EIP    uint32 `json:"eip"`
	EFLAGS uint32 `json:"eflags"` // with the guest's IF and IOPL
	CPL    uint8  `json:"cpl"`
	// Segment selectors in the order ES CS SS DS FS GS, as the guest set
	// them (RPL 0 for its kernel); the descriptor caches are reloaded from
	// the guest's tables (see the package comment).
	Seg  [6]uint16 `json:"seg"`
	GDTR DTR       `json:"gdtr"`
	IDTR DTR       `json:"idtr"`
	LDTR uint16    `json:"ldtr"`
	TR   uint16    `json:"tr"`
	CR0  uint32    `json:"cr0"`
	CR2  uint32    `json:"cr2"`
	CR3  uint32    `json:"cr3"`
	CR4  uint32    `json:"cr4"`
	DR   [8]uint32 `json:"dr"`
	// MSR holds the CPU model's MSRs by index (rdmsr's view).
	MSR map[uint32]uint64 `json:"msr"`
	// FPU is the x87 and SSE state (nil in a state saved before it was
	// recorded: the FPU then starts as the machine booted it).
	FPU *FPU `json:"fpu,omitempty"`
}

// FPU is the x87 unit's and SSE's architectural state.
type FPU struct {
	FCW uint16 `json:"fcw"` // control word
	FSW uint16 `json:"fsw"` // status word, TOP included
	FTW uint16 `json:"ftw"` // tag word (two bits a register)
	// ST holds the eight 80-bit registers in physical order (R0-R7): a
	// 64-bit mantissa and the 16-bit sign and exponent, little-endian.
	ST    [8][10]byte `json:"st"`
	XMM   [8][16]byte `json:"xmm"`
	MXCSR uint32      `json:"mxcsr"`
}

// Segment register indexes into CPU.Seg.
const (
	ES = iota
	CS
	SS
	DS
	FS
	GS
)

// Machine is the run loop's state that is guest-visible: guest time and
// the interrupt window, and the sites the machine found hooking guest code
// (so I/O stays precise from the first instruction after a restore).
type Machine struct {
	MainCount   uint64   `json:"main_count"`  // instructions counted in guest code
	ExtraCount  uint64   `json:"extra_count"` // instructions counted elsewhere (bt's translation cache)
	Clock       bool     `json:"clock"`       // the block clock runs (the guest programmed the PIT)
	Now         uint64   `json:"now"`         // guest time, in blocks
	Deadline    uint64   `json:"deadline"`    // the clock's next timer event, in blocks
	WatchIF     bool     `json:"watch_if"`    // an interrupt waits for IF: the clock watches for it
	IRQWindow   bool     `json:"irq_window"`  // an interrupt waits for IF: single-stepping
	InShadow    bool     `json:"in_shadow"`   // the last instruction opened an interrupt shadow
	WantClock   bool     `json:"want_clock"`  // the clock starts at the next boundary
	IOSites     []uint32 `json:"io_sites"`    // I/O and hlt instructions found
	MMIOSites   []uint32 `json:"mmio_sites"`  // instructions found touching device pages
	SafetyNetIO uint64   `json:"safety_net_io"`
	// DebugRegs: DR0-DR7 of the native machine, which keeps them itself
	// (Unicorn cannot take an armed DR7; vmm/debugreg.go).
	DebugRegs [8]uint32 `json:"debug_regs"`
	// The virtual CPU's own run state under a VMM that keeps one.
	PendingIRQs []uint8 `json:"pending_irqs,omitempty"` // vectors accepted and not injected yet
}

// Blob names a raw file of the state.
type Blob struct {
	File   string `json:"file"`
	Size   uint64 `json:"size"`
	SHA256 string `json:"sha256"`
}

// Digest is the hex SHA-256 of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// SortCounts orders count lines by cause, then mechanism.
func SortCounts(c []Count) {
	sort.Slice(c, func(i, j int) bool {
		if c[i].Cause != c[j].Cause {
			return c[i].Cause < c[j].Cause
		}
		return c[i].Mech < c[j].Mech
	})
}

// Save writes s into dir (created if needed): the blobs first, the
// manifest last, so a directory with a manifest is complete.
func Save(dir string, s *State) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("vmstate: %w", err)
	}
	s.Format, s.Version = Format, Version
	if uint64(len(s.RAMData)) != uint64(s.MemSize) {
		return fmt.Errorf("vmstate: RAM is %d bytes, the VM has %d", len(s.RAMData), s.MemSize)
	}
	s.RAM = Blob{File: RAMFile, Size: uint64(len(s.RAMData)), SHA256: Digest(s.RAMData)}
	if err := os.WriteFile(filepath.Join(dir, RAMFile), s.RAMData, 0o644); err != nil {
		return fmt.Errorf("vmstate: %w", err)
	}
	s.Disk = nil
	if s.DiskData != nil {
		s.Disk = &Blob{File: DiskFile, Size: uint64(len(s.DiskData)), SHA256: Digest(s.DiskData)}
		if err := os.WriteFile(filepath.Join(dir, DiskFile), s.DiskData, 0o644); err != nil {
			return fmt.Errorf("vmstate: %w", err)
		}
	}
	SortCounts(s.Counts)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("vmstate: encode manifest: %w", err)
	}
	tmp := filepath.Join(dir, ManifestFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("vmstate: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ManifestFile)); err != nil {
		return fmt.Errorf("vmstate: %w", err)
	}
	return nil
}

// ErrFormat marks a directory that is not a valid saved VM (wrong format
// or version, a missing field, a damaged blob).
var ErrFormat = errors.New("not a valid virtsim VM state")

func bad(dir, format string, a ...any) error {
	return fmt.Errorf("vmstate: %s: %w: %s", dir, ErrFormat, fmt.Sprintf(format, a...))
}

// Load reads and checks the state in dir.
func Load(dir string) (*State, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("vmstate: %w", err)
	}
	var head struct {
		Format  string `json:"format"`
		Version *int   `json:"version"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, bad(dir, "manifest is not JSON: %v", err)
	}
	if head.Format != Format {
		return nil, bad(dir, "format %q, want %q", head.Format, Format)
	}
	if head.Version == nil {
		return nil, bad(dir, "manifest has no version")
	}
	if *head.Version != Version {
		return nil, bad(dir, "version %d; this virtsim reads version %d only", *head.Version, Version)
	}
	// Every field of the manifest must be one this version defines.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	s := &State{}
	if err := dec.Decode(s); err != nil {
		return nil, bad(dir, "manifest: %v", err)
	}
	for _, f := range []struct {
		ok   bool
		name string
	}{
		{s.Strategy != "", "strategy"},
		{s.MemSize != 0, "mem_size"},
		{s.Image.SHA256 != "", "image.sha256"},
		{len(s.Legs) > 0, "legs"},
		{s.Devices != nil, "devices"},
		{s.RAM.File != "", "ram"},
		{s.CPU.MSR != nil, "cpu.msr"},
	} {
		if !f.ok {
			return nil, bad(dir, "manifest lacks %s", f.name)
		}
	}
	if s.RAM.Size != uint64(s.MemSize) {
		return nil, bad(dir, "ram is %d bytes, mem_size %d", s.RAM.Size, s.MemSize)
	}
	if s.RAMData, err = readBlob(dir, s.RAM); err != nil {
		return nil, err
	}
	if s.Disk != nil {
		if s.DiskData, err = readBlob(dir, *s.Disk); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func readBlob(dir string, b Blob) ([]byte, error) {
	if b.File != filepath.Base(b.File) {
		return nil, bad(dir, "blob name %q is not a file in the state directory", b.File)
	}
	data, err := os.ReadFile(filepath.Join(dir, b.File))
	if err != nil {
		return nil, fmt.Errorf("vmstate: %w", err)
	}
	if uint64(len(data)) != b.Size {
		return nil, bad(dir, "%s is %d bytes, the manifest says %d", b.File, len(data), b.Size)
	}
	if got := Digest(data); got != b.SHA256 {
		return nil, bad(dir, "%s is damaged: SHA-256 %s, the manifest says %s", b.File, got, b.SHA256)
	}
	return data, nil
}
