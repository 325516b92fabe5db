package migrate

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"time"

	"virtsim/vmm"
	"virtsim/vmstate"
)

// Live migration: the VM keeps running on the source while its memory is
// copied to the destination (pre-copy), round after round resending the
// pages it wrote meanwhile, until a round leaves few enough dirty pages;
// then it stops, the last dirty pages and the rest of its state follow
// (stop-and-copy), and the destination continues it.
//
// Dirty pages are found by comparing each page with the copy last sent:
// exact, whoever wrote the page. Unicorn's write hooks would see only the
// guest's own stores, by linear address, and miss the machine's (interrupt
// frames it pushes, string I/O and disk DMA it performs from the host),
// which a migration must not miss. A round costs one read of RAM.

// LiveOptions tune the pre-copy.
type LiveOptions struct {
	Round     uint64 // guest instructions the VM runs per pre-copy round (default 20000)
	MaxRounds int    // pre-copy rounds at most (default 8)
	StopPages int    // stop and copy once a round dirties at most this many pages (default 8)
}

func (o LiveOptions) withDefaults() LiveOptions {
	if o.Round == 0 {
		o.Round = 20000
	}
	if o.MaxRounds == 0 {
		o.MaxRounds = 8
	}
	if o.StopPages == 0 {
		o.StopPages = 8
	}
	return o
}

// RoundStat is one pre-copy round (round 0 is the first full copy).
type RoundStat struct {
	Round        int    `json:"round"`
	Pages        int    `json:"pages"`        // pages sent
	Instructions uint64 `json:"instructions"` // the VM's count when the round's pages were read
}

// LiveReport is what a live migration did.
type LiveReport struct {
	Rounds     []RoundStat   `json:"rounds"`
	FinalPages int           `json:"final_pages"` // sent during stop-and-copy
	StopAt     uint64        `json:"stop_at"`     // the VM's instruction count when it stopped
	Downtime   time.Duration `json:"downtime_ns"` // from the stop to the destination's resume
	Stopped    bool          `json:"stopped"`     // the guest ended during pre-copy: nothing to move
}

// message is one frame of the protocol (gob): pages, or the final state.
type message struct {
	MemSize uint32 // the VM's RAM, in every frame
	Round   int
	Pages   []page
	Final   *vmstate.State // stop-and-copy: the state, RAMData left out
}

type page struct {
	N    uint32
	Data []byte
}

const pageSize = 4096

// diff lists the pages of cur that differ from sent and copies them into
// sent.
func diff(cur, sent []byte) []page {
	var out []page
	for off := 0; off < len(cur); off += pageSize {
		c, s := cur[off:off+pageSize], sent[off:off+pageSize]
		if !bytes.Equal(c, s) {
			out = append(out, page{N: uint32(off / pageSize), Data: append([]byte(nil), c...)})
			copy(s, c)
		}
	}
	return out
}

// SendLive migrates the running instance inst over w, which must be a
// paused or freshly booted counting instance. The caller waits on ack for
// the destination's resume (downtime ends there). If the connection
// fails, inst is left paused and intact: the caller may run it on.
func SendLive(inst vmm.Instance, w io.Writer, ack io.Reader, opt LiveOptions) (*LiveReport, error) {
	opt = opt.withDefaults()
	rr, ok := inst.(vmm.RAMReader)
	p, ok2 := inst.(vmm.Pauser)
	sn, ok3 := inst.(vmm.Snapshotter)
	if !ok || !ok2 || !ok3 {
		return nil, fmt.Errorf("migrate: %s: %w", inst.Result().Strategy, ErrNotSupported)
	}
	enc := gob.NewEncoder(w)
	rep := &LiveReport{}
	var cur, sent []byte
	for round := 0; ; round++ {
		res := inst.Result()
		if cur == nil {
			cur = make([]byte, rr.RAMSize())
			sent = make([]byte, len(cur)) // the destination starts with zeroed RAM
		}
		if err := rr.ReadRAM(cur); err != nil {
			return rep, err
		}
		pages := diff(cur, sent)
		rep.Rounds = append(rep.Rounds, RoundStat{Round: round, Pages: len(pages), Instructions: res.Instructions})
		if err := enc.Encode(message{MemSize: rr.RAMSize(), Round: round, Pages: pages}); err != nil {
			return rep, fmt.Errorf("migrate: send round %d: %w", round, err)
		}
		if round > 0 && len(pages) <= opt.StopPages || round >= opt.MaxRounds {
			break
		}
		// Run on while the pages travel.
		p.PauseAt(res.Instructions + opt.Round)
		stop, err := inst.Run()
		if err != nil {
			return rep, err
		}
		if stop.Kind != vmm.StopNone {
			rep.Stopped = true
			return rep, nil
		}
	}
	// Stop and copy: the VM is paused here.
	t0 := time.Now()
	st, err := sn.SaveState()
	if err != nil {
		return rep, err
	}
	rep.StopAt = st.Instructions
	final := diff(st.RAMData, sent)
	rep.FinalPages = len(final)
	st.RAMData = nil
	if err := enc.Encode(message{MemSize: rr.RAMSize(), Round: -1, Pages: final, Final: st}); err != nil {
		return rep, fmt.Errorf("migrate: send the final state: %w", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(ack, b[:]); err != nil {
		return rep, fmt.Errorf("migrate: no word from the destination after stop-and-copy: %w", err)
	}
	rep.Downtime = time.Since(t0)
	return rep, nil
}

// ReceiveLive reads a live migration from r: the pages of every round and
// the final state, whose RAM it assembles.
func ReceiveLive(r io.Reader) (*vmstate.State, *LiveReport, error) {
	dec := gob.NewDecoder(r)
	rep := &LiveReport{}
	var ram []byte
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, rep, fmt.Errorf("migrate: the source closed before stop-and-copy (the guest ended there, or the source kept it)")
			}
			return nil, rep, fmt.Errorf("migrate: receive: %w", err)
		}
		if ram == nil {
			if err := vmm.CheckMemSize(m.MemSize); err != nil {
				return nil, rep, fmt.Errorf("migrate: receive: %w", err)
			}
			ram = make([]byte, m.MemSize)
		}
		for _, pg := range m.Pages {
			if uint64(pg.N)*pageSize+pageSize > uint64(len(ram)) || len(pg.Data) != pageSize {
				return nil, rep, fmt.Errorf("migrate: receive: page %d does not fit %d bytes of RAM", pg.N, len(ram))
			}
			copy(ram[pg.N*pageSize:], pg.Data)
		}
		if m.Final == nil {
			rep.Rounds = append(rep.Rounds, RoundStat{Round: m.Round, Pages: len(m.Pages)})
			continue
		}
		st := m.Final
		rep.FinalPages, rep.StopAt = len(m.Pages), st.Instructions
		if st.MemSize != uint32(len(ram)) {
			return nil, rep, fmt.Errorf("migrate: receive: the state has %d bytes of RAM, the pages %d", st.MemSize, len(ram))
		}
		st.RAMData = ram
		return st, rep, nil
	}
}
