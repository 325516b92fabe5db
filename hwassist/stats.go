package hwassist

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// KVM's binary statistics (KVM_GET_STATS_FD, Linux 5.14+): a file
// descriptor per VM or vCPU whose contents are
//
//	struct kvm_stats_header   at 0: flags, name_size, num_desc, id_offset, desc_offset, data_offset
//	id string                 at id_offset
//	struct kvm_stats_desc[]   at desc_offset, each 16 bytes + name_size: flags, exponent, size, offset, bucket_size, name
//	data                      at data_offset: for each descriptor, size __u64 values at data_offset+offset
//
// The header and the descriptors never change for a file descriptor; the
// data is read again (pread) for each snapshot.

// Stat flags (KVM_STATS_TYPE_*, KVM_STATS_UNIT_*, KVM_STATS_BASE_*).
const (
	statsTypeMask       = 0xF
	statsTypeCumulative = 0x0
	statsTypeInstant    = 0x1
	statsTypePeak       = 0x2
	statsTypeLinearHist = 0x3
	statsTypeLogHist    = 0x4
	statsUnitShift      = 4
	statsUnitMask       = 0xF << statsUnitShift
)

// statDesc is one decoded struct kvm_stats_desc.
type statDesc struct {
	Name     string
	Flags    uint32
	Exponent int16
	Size     uint16 // number of __u64 values (1, or buckets of a histogram)
	Offset   uint32 // from data_offset
}

func (d statDesc) kind() uint32 { return d.Flags & statsTypeMask }

// statsSchema is the decoded header and descriptors of a stats file.
type statsSchema struct {
	ID       string
	Descs    []statDesc
	dataOff  int64
	dataSize int
}

// parseStatsSchema reads the header and the descriptors.
func parseStatsSchema(r io.ReaderAt) (*statsSchema, error) {
	var hdr [sizeofStatsHeader]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("kvm stats: read header: %w", err)
	}
	le := binary.LittleEndian
	nameSize := le.Uint32(hdr[4:])
	numDesc := le.Uint32(hdr[8:])
	idOff := le.Uint32(hdr[12:])
	descOff := le.Uint32(hdr[16:])
	dataOff := le.Uint32(hdr[20:])
	if nameSize == 0 || nameSize > 4096 || numDesc > 1<<16 {
		return nil, fmt.Errorf("kvm stats: implausible header (name_size %d, num_desc %d)", nameSize, numDesc)
	}
	s := &statsSchema{dataOff: int64(dataOff)}
	id := make([]byte, nameSize)
	if _, err := r.ReadAt(id, int64(idOff)); err != nil {
		return nil, fmt.Errorf("kvm stats: read id: %w", err)
	}
	s.ID = cString(id)
	stride := statsDescFixedSize + int(nameSize)
	descs := make([]byte, stride*int(numDesc))
	if len(descs) > 0 {
		if _, err := r.ReadAt(descs, int64(descOff)); err != nil {
			return nil, fmt.Errorf("kvm stats: read %d descriptors: %w", numDesc, err)
		}
	}
	for i := 0; i < int(numDesc); i++ {
		b := descs[i*stride : (i+1)*stride]
		d := statDesc{
			Flags:    le.Uint32(b[0:]),
			Exponent: int16(le.Uint16(b[4:])),
			Size:     le.Uint16(b[6:]),
			Offset:   le.Uint32(b[8:]),
			Name:     cString(b[statsDescFixedSize:]),
		}
		if end := int(d.Offset) + 8*int(d.Size); end > s.dataSize {
			s.dataSize = end
		}
		s.Descs = append(s.Descs, d)
	}
	return s, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Stats is one snapshot of the single-valued statistics, by name.
type Stats map[string]uint64

// snapshot reads the data block and returns every single-valued stat
// (histograms are left out).
func (s *statsSchema) snapshot(r io.ReaderAt) (Stats, error) {
	data := make([]byte, s.dataSize)
	if _, err := r.ReadAt(data, s.dataOff); err != nil && err != io.EOF {
		return nil, fmt.Errorf("kvm stats: read data: %w", err)
	}
	out := Stats{}
	for _, d := range s.Descs {
		if d.Size != 1 || d.kind() == statsTypeLinearHist || d.kind() == statsTypeLogHist {
			continue
		}
		out[d.Name] = binary.LittleEndian.Uint64(data[d.Offset:])
	}
	return out, nil
}

// keyStats are reported even when they did not change, so that a reader
// sees, say, io_exits=0 under PVM (which counts port I/O as emulation).
var keyStats = []string{"exits", "io_exits", "halt_exits", "insn_emulation", "irq_exits", "signal_exits", "mmio_exits", "pf_taken"}

// statsDelta turns two snapshots into counters named "kvm/NAME":
// cumulative stats as the change over the run (only those that changed,
// plus keyStats), instant and peak stats as their final value when
// non-zero.
func statsDelta(s *statsSchema, before, after Stats) map[string]uint64 {
	out := map[string]uint64{}
	kinds := map[string]uint32{}
	for _, d := range s.Descs {
		kinds[d.Name] = d.kind()
	}
	names := make([]string, 0, len(after))
	for n := range after {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := after[n]
		switch kinds[n] {
		case statsTypeCumulative:
			if d := v - before[n]; d != 0 {
				out["kvm/"+n] = d
			}
		case statsTypeInstant, statsTypePeak:
			if v != 0 {
				out["kvm/"+n] = v
			}
		}
	}
	for _, n := range keyStats {
		if _, ok := after[n]; ok {
			if _, done := out["kvm/"+n]; !done {
				out["kvm/"+n] = after[n] - before[n]
			}
		}
	}
	return out
}
