package hypercall

import (
	"encoding/binary"
	"testing"

	"virtsim/blkring"
	"virtsim/vmm"
)

// A PV guest with the disk workload's default disk, booted, not running.
func bootedDiskVMM(t *testing.T) *VMM {
	t.Helper()
	_, img := loadBoth(t, "disk")
	p, err := NewVMM(img, vmm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// TestBlkHypercalls: a hostile PV guest's ring — connect refused off RAM
// or on the VMM's pages, a broken producer index, requests aimed at the
// hypercall page, the shared-info page, beyond RAM and at the VMM region —
// gets error codes and error responses; the VMM's pages stay as they were.
func TestBlkHypercalls(t *testing.T) {
	p := bootedDiskVMM(t)
	for _, at := range []uint32{HypercallPage, SharedInfo, scratch + 4, 0xFF000000, p.Cfg.MemSize} {
		if out := p.blkifConnect(at); out.ret != EINVAL.Ret() {
			t.Errorf("blkif_connect(%#x) = %#x, want -EINVAL", at, out.ret)
		}
	}
	if out := p.evtchnOp(EvtchnOpSend, blkring.EventChannel); out.ret != EINVAL.Ret() {
		t.Errorf("send before connect = %#x, want -EINVAL", out.ret)
	}
	ring := uint32(scratch)
	out := p.blkifConnect(ring)
	if out.ret != blkring.EventChannel {
		t.Fatalf("blkif_connect = %#x", out.ret)
	}
	if out := p.evtchnOp(99, blkring.EventChannel); out.ret != ENOSYS.Ret() {
		t.Errorf("unknown event_channel_op = %#x, want -ENOSYS", out.ret)
	}
	if out := p.evtchnOp(EvtchnOpSend, 7); out.ret != EINVAL.Ret() {
		t.Errorf("send on an unbound port = %#x, want -EINVAL", out.ret)
	}
	hpage := make([]byte, PageSize)
	si := make([]byte, PageSize)
	p.ReadMem(HypercallPage, hpage)
	p.ReadMem(SharedInfo, si)

	bufs := []uint32{HypercallPage, SharedInfo + 0x100, p.Cfg.MemSize - 512, 0xFF000000, scratch + 0x1000}
	for i, buf := range bufs {
		slot := make([]byte, blkring.SlotSize)
		slot[blkring.SlotOp], slot[blkring.SlotNrSectors] = blkring.OpRead, 2
		binary.LittleEndian.PutUint32(slot[blkring.SlotBuf:], buf)
		p.put(t, ring+blkring.OffSlot0+uint32(i)*blkring.SlotSize, slot)
	}
	var prod [4]byte
	binary.LittleEndian.PutUint32(prod[:], uint32(len(bufs)))
	p.put(t, ring+blkring.OffReqProd, prod[:])
	if out := p.evtchnOp(EvtchnOpSend, blkring.EventChannel); out.ret != 0 || out.cause != causeEvtchnSend {
		t.Fatalf("send = %#x (%s)", out.ret, out.cause)
	}
	for i, buf := range bufs {
		b := make([]byte, 4)
		p.ReadMem(ring+blkring.OffSlot0+uint32(i)*blkring.SlotSize+blkring.SlotStatus, b)
		want := int32(blkring.RspError)
		if i == len(bufs)-1 {
			want = blkring.RspOkay // the one request into the guest's own RAM
		}
		if got := int32(le32(b)); got != want {
			t.Errorf("request into %#x: status %d, want %d", buf, got, want)
		}
	}
	after := make([]byte, PageSize)
	p.ReadMem(HypercallPage, after)
	if string(after) != string(hpage) {
		t.Error("the hypercall page changed")
	}
	p.ReadMem(SharedInfo, after)
	if le32(after[SIEvtchn:])&(1<<blkring.EventChannel) == 0 {
		t.Error("no completion event in shared info")
	}
	copy(after[SIEvtchn:SIEvtchn+4], si[SIEvtchn:SIEvtchn+4])
	if string(after) != string(si) {
		t.Error("the shared-info page changed beyond the event bit")
	}
	// A producer index far ahead: the ring is broken, the call fails.
	binary.LittleEndian.PutUint32(prod[:], 0x80000000)
	p.put(t, ring+blkring.OffReqProd, prod[:])
	if out := p.evtchnOp(EvtchnOpSend, blkring.EventChannel); out.ret != EINVAL.Ret() {
		t.Errorf("send on a broken ring = %#x, want -EINVAL", out.ret)
	}
	b := make([]byte, 4)
	p.ReadMem(ring+blkring.OffError, b)
	if le32(b) != blkring.ErrIndexRange {
		t.Errorf("ring error %d, want %d", le32(b), blkring.ErrIndexRange)
	}
}
