package hwassist

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// statsFile builds a made-up binary stats file as KVM lays it out:
// header, id, descriptors (name_size bytes of name each), data.
func statsFile(id string, descs []statDesc, values map[string][]uint64) []byte {
	const nameSize = 48
	le := binary.LittleEndian
	idOff := uint32(sizeofStatsHeader)
	descOff := idOff + nameSize
	dataOff := descOff + uint32(len(descs)*(statsDescFixedSize+nameSize))
	var buf bytes.Buffer
	hdr := make([]byte, sizeofStatsHeader)
	le.PutUint32(hdr[4:], nameSize)
	le.PutUint32(hdr[8:], uint32(len(descs)))
	le.PutUint32(hdr[12:], idOff)
	le.PutUint32(hdr[16:], descOff)
	le.PutUint32(hdr[20:], dataOff)
	buf.Write(hdr)
	name := make([]byte, nameSize)
	copy(name, id)
	buf.Write(name)
	var data []byte
	for _, d := range descs {
		b := make([]byte, statsDescFixedSize+nameSize)
		le.PutUint32(b[0:], d.Flags)
		le.PutUint16(b[4:], uint16(d.Exponent))
		le.PutUint16(b[6:], d.Size)
		le.PutUint32(b[8:], uint32(len(data)))
		copy(b[statsDescFixedSize:], d.Name)
		buf.Write(b)
		for i := 0; i < int(d.Size); i++ {
			var v [8]byte
			if vs := values[d.Name]; i < len(vs) {
				le.PutUint64(v[:], vs[i])
			}
			data = append(data, v[:]...)
		}
	}
	buf.Write(data)
	return buf.Bytes()
}

func TestStatsParseAndDelta(t *testing.T) {
	descs := []statDesc{
		{Name: "exits", Flags: statsTypeCumulative, Size: 1},
		{Name: "io_exits", Flags: statsTypeCumulative, Size: 1},
		{Name: "insn_emulation", Flags: statsTypeCumulative, Size: 1},
		{Name: "halt_poll_fail_hist", Flags: statsTypeLogHist, Size: 4},
		{Name: "guest_mode", Flags: statsTypeInstant | 4<<statsUnitShift, Size: 1},
		{Name: "halt_wait_ns", Flags: statsTypeCumulative | 2<<statsUnitShift, Exponent: -9, Size: 1},
	}
	before := statsFile("kvm-1234/vcpu-0", descs, map[string][]uint64{"exits": {5}, "insn_emulation": {100}, "halt_poll_fail_hist": {1, 2, 3, 4}})
	after := statsFile("kvm-1234/vcpu-0", descs, map[string][]uint64{"exits": {47}, "insn_emulation": {2149}, "halt_poll_fail_hist": {9, 9, 9, 9}, "guest_mode": {1}})
	s, err := parseStatsSchema(bytes.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "kvm-1234/vcpu-0" || len(s.Descs) != len(descs) || s.Descs[5].Exponent != -9 {
		t.Fatalf("schema %+v", s)
	}
	b, err := s.snapshot(bytes.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.snapshot(bytes.NewReader(after))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a["halt_poll_fail_hist"]; ok {
		t.Error("a histogram was reported as a single value")
	}
	got := statsDelta(s, b, a)
	want := map[string]uint64{"kvm/exits": 42, "kvm/insn_emulation": 2049, "kvm/io_exits": 0, "kvm/guest_mode": 1}
	if len(got) != len(want) {
		t.Errorf("delta %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

func TestStatsRejectsGarbage(t *testing.T) {
	if _, err := parseStatsSchema(bytes.NewReader(make([]byte, 8))); err == nil {
		t.Error("a truncated header parsed")
	}
	if _, err := parseStatsSchema(bytes.NewReader(make([]byte, 64))); err == nil {
		t.Error("a header with name_size 0 parsed")
	}
}
