package blkring

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"virtsim/disk"
)

// ram is guest-physical memory for tests.
type ram []byte

func (r ram) ReadPhys(addr uint32, b []byte) error {
	if uint64(addr)+uint64(len(b)) > uint64(len(r)) {
		return fmt.Errorf("read %#x: outside RAM", addr)
	}
	copy(b, r[addr:])
	return nil
}

func (r ram) WritePhys(addr uint32, b []byte) error {
	if uint64(addr)+uint64(len(b)) > uint64(len(r)) {
		return fmt.Errorf("write %#x: outside RAM", addr)
	}
	copy(r[addr:], b)
	return nil
}

func (r ram) RAMSize() uint32 { return uint32(len(r)) }

const (
	ringAt = 0x10000
	bufAt  = 0x20000
	vmmAt  = 0x7000
)

func setup(t *testing.T) (*Backend, ram, *disk.Mem) {
	t.Helper()
	mem := make(ram, 1<<20)
	img := make([]byte, 64*disk.SectorSize)
	for i := range img {
		img[i] = byte(i / disk.SectorSize)
	}
	d := disk.NewMem(img)
	b := &Backend{Disk: d, Mem: mem}
	b.Forbid(vmmAt, vmmAt+PageSize)
	if err := b.Connect(ringAt); err != nil {
		t.Fatal(err)
	}
	return b, mem, d
}

// put writes request number idx into its slot and returns the slot address.
func put(mem ram, idx uint32, op, nr uint8, sector uint64, buf uint32) uint32 {
	slot := ringAt + OffSlot0 + idx%Slots*SlotSize
	s := mem[slot : slot+SlotSize]
	s[SlotOp], s[SlotNrSectors] = op, nr
	binary.LittleEndian.PutUint32(s[SlotID:], idx)
	binary.LittleEndian.PutUint64(s[SlotSector:], sector)
	binary.LittleEndian.PutUint32(s[SlotBuf:], buf)
	return slot
}

func le32(mem ram, a uint32) uint32 { return binary.LittleEndian.Uint32(mem[a:]) }

func TestConnect(t *testing.T) {
	b, mem, _ := setup(t)
	if got := le32(mem, ringAt+OffSectors); got != 64 {
		t.Errorf("sectors published = %d, want 64", got)
	}
	for _, at := range []uint32{ringAt + 8, vmmAt, 1 << 20, 0xFF000000} {
		if err := b.Connect(at); !errors.Is(err, ErrBadRing) {
			t.Errorf("Connect(%#x) = %v, want ErrBadRing", at, err)
		}
	}
	if err := (&Backend{Mem: mem}).Connect(ringAt); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Connect without a disk = %v", err)
	}
	if _, err := (&Backend{Mem: mem}).Notify(); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Notify before Connect = %v", err)
	}
}

func TestBatch(t *testing.T) {
	b, mem, d := setup(t)
	events := 0
	b.OnEvent = func() { events++ }
	// read sectors 3..10 into bufAt, write bufAt+0x1000 to sectors 20..21, flush
	copy(mem[bufAt+0x1000:], bytes.Repeat([]byte{0xAB}, 2*disk.SectorSize))
	put(mem, 0, OpRead, 8, 3, bufAt)
	put(mem, 1, OpWrite, 2, 20, bufAt+0x1000)
	put(mem, 2, OpFlush, 0, 0, 0)
	binary.LittleEndian.PutUint32(mem[ringAt+OffReqProd:], 3)
	n, err := b.Notify()
	if err != nil || n != 3 {
		t.Fatalf("Notify = %d, %v", n, err)
	}
	for i := uint32(0); i < 3; i++ {
		if st := int32(le32(mem, ringAt+OffSlot0+i*SlotSize+SlotStatus)); st != RspOkay {
			t.Errorf("request %d status %d", i, st)
		}
	}
	if mem[bufAt] != 3 || mem[bufAt+8*disk.SectorSize-1] != 10 {
		t.Error("read data wrong")
	}
	if got := d.Bytes()[20*disk.SectorSize]; got != 0xAB || d.Flushes != 1 {
		t.Errorf("write/flush: byte %#x, flushes %d", got, d.Flushes)
	}
	if rp := le32(mem, ringAt+OffRspProd); rp != 3 || events != 1 {
		t.Errorf("rsp_prod %d, events %d", rp, events)
	}
	req, cons, rsp := b.Indices()
	if req != 3 || cons != 3 || rsp != 3 {
		t.Errorf("indices %d %d %d", req, cons, rsp)
	}
}

// TestMalformed: a hostile guest's ring gets error responses; the backend
// touches nothing outside guest RAM and the VMM's pages stay unchanged.
func TestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op, nr uint8
		sector uint64
		buf    uint32
		want   int32
	}{
		{"buffer outside RAM", OpRead, 1, 0, 1 << 20, RspError},
		{"buffer straddles the end of RAM", OpRead, 2, 0, 1<<20 - disk.SectorSize, RspError},
		{"buffer at the VMM region", OpRead, 1, 0, 0xFF000000, RspError},
		{"buffer on a VMM page", OpRead, 1, 0, vmmAt + 0x800, RspError},
		{"buffer runs into a VMM page", OpWrite, 2, 0, vmmAt - disk.SectorSize, RspError},
		{"sector beyond the disk", OpRead, 1, 64, bufAt, RspError},
		{"sectors run off the disk", OpWrite, 8, 60, bufAt, RspError},
		{"huge sector", OpRead, 1, 1 << 62, bufAt, RspError},
		{"zero sectors", OpRead, 0, 0, bufAt, RspError},
		{"too many sectors", OpRead, MaxSectors + 1, 0, bufAt, RspError},
		{"unknown operation", 7, 1, 0, bufAt, RspNotSupp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, mem, d := setup(t)
			before := d.Bytes()
			vmmPage := append([]byte(nil), mem[vmmAt:vmmAt+PageSize]...)
			slot := put(mem, 0, tc.op, tc.nr, tc.sector, tc.buf)
			binary.LittleEndian.PutUint32(mem[ringAt+OffReqProd:], 1)
			if _, err := b.Notify(); err != nil {
				t.Fatalf("Notify: %v (a bad request is answered, not a ring error)", err)
			}
			if st := int32(le32(mem, slot+SlotStatus)); st != tc.want {
				t.Errorf("status %d, want %d", st, tc.want)
			}
			if !bytes.Equal(d.Bytes(), before) || !bytes.Equal(mem[vmmAt:vmmAt+PageSize], vmmPage) {
				t.Error("a refused request changed the disk or a VMM page")
			}
			if b.Errors != 1 {
				t.Errorf("errors counted %d", b.Errors)
			}
		})
	}
}

// TestDenyDMA: a read into memory the VMM protects (a validated page
// table under pv) is refused; a write from it is allowed.
func TestDenyDMA(t *testing.T) {
	b, mem, _ := setup(t)
	b.DenyDMA = func(addr, n uint32) bool { return addr < bufAt+PageSize && addr+n > bufAt }
	put(mem, 0, OpRead, 1, 0, bufAt+0x200)
	put(mem, 1, OpWrite, 1, 0, bufAt+0x200)
	put(mem, 2, OpRead, 1, 0, bufAt+PageSize)
	binary.LittleEndian.PutUint32(mem[ringAt+OffReqProd:], 3)
	if _, err := b.Notify(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int32{RspError, RspOkay, RspOkay} {
		if st := int32(le32(mem, ringAt+OffSlot0+uint32(i)*SlotSize+SlotStatus)); st != want {
			t.Errorf("request %d: status %d, want %d", i, st, want)
		}
	}
}

func TestBrokenIndices(t *testing.T) {
	for _, prod := range []uint32{Slots + 1, 1000, 0xFFFFFFFF} {
		b, mem, _ := setup(t)
		binary.LittleEndian.PutUint32(mem[ringAt+OffReqProd:], prod)
		if _, err := b.Notify(); !errors.Is(err, ErrBrokenRing) {
			t.Errorf("req_prod %d: Notify = %v, want ErrBrokenRing", prod, err)
		}
		if got := le32(mem, ringAt+OffError); got != ErrIndexRange {
			t.Errorf("req_prod %d: ring error %d", prod, got)
		}
		if rp := le32(mem, ringAt+OffRspProd); rp != 0 {
			t.Errorf("req_prod %d: served %d requests of a broken ring", prod, rp)
		}
	}
	// Indices wrap: a producer that wrapped around 2^32 is fine.
	b, mem, _ := setup(t)
	b.cons, b.rspProd = 0xFFFFFFFF, 0xFFFFFFFF
	put(mem, 0xFFFFFFFF, OpRead, 1, 0, bufAt)
	put(mem, 0, OpRead, 1, 1, bufAt+disk.SectorSize)
	binary.LittleEndian.PutUint32(mem[ringAt+OffReqProd:], 1)
	if n, err := b.Notify(); err != nil || n != 2 {
		t.Errorf("wrapped indices: %d, %v", n, err)
	}
}

func TestDevicePorts(t *testing.T) {
	b, mem, _ := setup(t)
	d := &Device{B: b}
	if d.In(PortConnect, 4) != 0 {
		t.Fatal("connected backend reads as refused")
	}
	d.Out(PortConnect, 4, vmmAt)
	if d.In(PortConnect, 4) != 1 {
		t.Fatal("a refused connect reads as connected")
	}
	d.Out(PortConnect, 4, ringAt)
	put(mem, 0, OpRead, 1, 5, bufAt)
	binary.LittleEndian.PutUint32(mem[ringAt+OffReqProd:], 1)
	d.Out(PortNotify, 1, 0)
	if mem[bufAt] != 5 || b.Notifications != 1 {
		t.Fatal("the doorbell did not serve the ring")
	}
}

// TestBlkifIncMatchesGo keeps guest/src/include/blkif.inc and ring.go in step.
func TestBlkifIncMatchesGo(t *testing.T) {
	f, err := os.Open("../guest/src/include/blkif.inc")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := regexp.MustCompile(`^\.set\s+([A-Z0-9_]+),\s*(-?[0-9a-fA-Fx]+)`)
	vals := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := set.FindStringSubmatch(sc.Text()); m != nil {
			v, err := strconv.ParseInt(m[2], 0, 64)
			if err != nil {
				t.Fatalf("%s: %v", m[1], err)
			}
			vals[m[1]] = v
		}
	}
	for name, want := range map[string]int64{
		"RING_REQ_PROD": OffReqProd, "RING_RSP_PROD": OffRspProd, "RING_SECTORS": OffSectors, "RING_ERROR": OffError,
		"RING_SLOT0": OffSlot0, "RING_SLOT_SIZE": SlotSize, "RING_SLOTS": Slots,
		"REQ_OP": SlotOp, "REQ_NR_SECTORS": SlotNrSectors, "REQ_ID": SlotID, "REQ_SECTOR": SlotSector,
		"REQ_BUF": SlotBuf, "RSP_STATUS": SlotStatus, "BLKIF_OP_READ": OpRead, "BLKIF_OP_WRITE": OpWrite,
		"BLKIF_OP_FLUSH": OpFlush, "BLKIF_MAX_SECTORS": MaxSectors, "BLKIF_RSP_OKAY": RspOkay,
		"BLKIF_RSP_ERROR": RspError, "BLKIF_RSP_EOPNOTSUPP": RspNotSupp,
		"PORT_BLK_CONNECT": PortConnect, "PORT_BLK_NOTIFY": PortNotify,
	} {
		if got, ok := vals[name]; !ok || got != want {
			t.Errorf("blkif.inc %s = %d (found %v), ring.go %d", name, got, ok, want)
		}
	}
}
