package hypercall

import (
	"encoding/binary"

	"virtsim/blkring"
)

// The paravirtual disk's two hypercalls: blkif_connect grants the ring
// page to the backend (package blkring), event_channel_op send is the
// frontend's notification, one per batch; the backend's completion event
// is a bit in the shared-info page (SIEvtchn), which the guest clears with
// a memory write.

const (
	causeBlkifConnect = "hypercall/blkif_connect"
	causeEvtchnSend   = "hypercall/event_channel_op:send"
	causeEvtchnOther  = "hypercall/event_channel_op"
)

// setupBlk gives the ring backend the VMM's pages to refuse and the
// shared-info bit to raise.
func (p *VMM) setupBlk() {
	r := p.Machine.Disks.Ring
	r.Forbid(HypercallPage, HypercallPage+PageSize)
	r.Forbid(SharedInfo, SharedInfo+PageSize)
	r.DenyDMA = func(addr, n uint32) bool {
		for f := addr &^ (PageSize - 1); uint64(f) < uint64(addr)+uint64(n); f += PageSize {
			if p.isTable(f) {
				return true
			}
		}
		return false
	}
	r.OnEvent = func() {
		var b [4]byte
		if p.ReadMem(SharedInfo+SIEvtchn, b[:]) != nil {
			return
		}
		v := binary.LittleEndian.Uint32(b[:]) | 1<<blkring.EventChannel
		binary.LittleEndian.PutUint32(b[:], v)
		p.siWrite(SIEvtchn, b[:])
	}
}

func (p *VMM) blkifConnect(ring uint32) outcome {
	if err := p.Machine.Disks.Ring.Connect(ring); err != nil {
		return refused(causeBlkifConnect, EINVAL)
	}
	return outcome{ret: blkring.EventChannel, cause: causeBlkifConnect}
}

func (p *VMM) evtchnOp(cmd, port uint32) outcome {
	if cmd != EvtchnOpSend {
		return refused(causeEvtchnOther, ENOSYS)
	}
	r := p.Machine.Disks.Ring
	if _, ok := r.Connected(); !ok || port != blkring.EventChannel {
		return refused(causeEvtchnSend, EINVAL)
	}
	if _, err := r.Notify(); err != nil {
		return refused(causeEvtchnSend, EINVAL) // a broken ring: RING_ERROR says why
	}
	return ok(causeEvtchnSend)
}
