package migrate

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"time"

	"virtsim/guest"
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
	StopPages int    // stop and copy once a round dirties at most this many pages (default 8; negative: after MaxRounds only)
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
	Hello   *Hello // round 0: what VM is coming
	Round   int
	Pages   []page
	Final   *vmstate.State // stop-and-copy: the state, RAMData left out
}

type page struct {
	N    uint32
	Data []byte
}

const pageSize = 4096

// Hello tells the destination, with the first round, which VM is coming,
// so that it can boot its instance while the pre-copy runs: then the
// downtime is only the state's transfer and load.
type Hello struct {
	Guest    string
	Args     string
	MemSize  uint32
	Strategy string
	Image    vmstate.ImageID
}

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

// SendLive migrates the running instance inst over w; inst must be a
// paused or freshly booted counting instance. Round 0 copies all of RAM;
// each later round runs the VM opt.Round instructions and reads the pages
// it changed; when they are at most opt.StopPages (or after
// opt.MaxRounds), the VM stays stopped and those pages go with the state
// (stop-and-copy). Downtime runs from that stop to the destination's
// acknowledgement on ack. If the connection fails, inst is left paused
// and intact: the caller may run it on.
func SendLive(inst vmm.Instance, hello Hello, w io.Writer, ack io.Reader, opt LiveOptions) (*LiveReport, error) {
	opt = opt.withDefaults()
	rr, ok := inst.(vmm.RAMReader)
	p, ok2 := inst.(vmm.Pauser)
	sn, ok3 := inst.(vmm.Snapshotter)
	if !ok || !ok2 || !ok3 {
		return nil, fmt.Errorf("migrate: %s: %w", inst.Result().Strategy, ErrNotSupported)
	}
	enc := gob.NewEncoder(w)
	rep := &LiveReport{}
	size := rr.RAMSize()
	cur, sent := make([]byte, size), make([]byte, size) // the destination starts with zeroed RAM
	for round := 0; ; round++ {
		if round > 0 {
			// The VM runs on while the last round's pages travel (here,
			// one thread: in turns of opt.Round instructions).
			p.PauseAt(inst.Result().Instructions + opt.Round)
			stop, err := inst.Run()
			if err != nil {
				return rep, err
			}
			if stop.Kind != vmm.StopNone {
				rep.Stopped = true
				return rep, nil
			}
		}
		t0 := time.Now() // if this is the last round, the VM is stopped from here
		if err := rr.ReadRAM(cur); err != nil {
			return rep, err
		}
		pages := diff(cur, sent)
		if round > 0 && len(pages) <= opt.StopPages || round > opt.MaxRounds {
			// (a negative StopPages never matches: all rounds run)
			// Stop and copy: the last dirty pages and the state.
			rr.SaveWithoutRAM(true)
			st, err := sn.SaveState()
			rr.SaveWithoutRAM(false)
			if err != nil {
				return rep, err
			}
			rep.StopAt, rep.FinalPages = st.Instructions, len(pages)
			if err := enc.Encode(message{MemSize: size, Round: -1, Pages: pages, Final: st}); err != nil {
				return rep, fmt.Errorf("migrate: send the final state: %w", err)
			}
			var b [1]byte
			if _, err := io.ReadFull(ack, b[:]); err != nil {
				return rep, fmt.Errorf("migrate: no word from the destination after stop-and-copy: %w", err)
			}
			rep.Downtime = time.Since(t0)
			return rep, nil
		}
		msg := message{MemSize: size, Round: round, Pages: pages}
		if round == 0 {
			hello.MemSize = size
			msg.Hello = &hello
		}
		rep.Rounds = append(rep.Rounds, RoundStat{Round: round, Pages: len(pages), Instructions: inst.Result().Instructions})
		if err := enc.Encode(msg); err != nil {
			return rep, fmt.Errorf("migrate: send round %d: %w", round, err)
		}
	}
}

// ReceiveLive reads a live migration from r: the pages of every round and
// the final state, whose RAM it assembles. hello, if set, hears which VM is
// coming as soon as the first round arrives.
func ReceiveLive(r io.Reader, hello func(Hello) error) (*vmstate.State, *LiveReport, error) {
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
		if m.Hello != nil && hello != nil {
			if err := hello(*m.Hello); err != nil {
				return nil, rep, err
			}
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

// HelloFor describes the VM inst runs (image img) to a destination.
func HelloFor(inst vmm.Instance, img *guest.Image, pv bool) Hello {
	r := inst.Result()
	return Hello{Guest: r.Guest, Args: r.Args, Strategy: r.Strategy, Image: vmm.ImageID(img, pv)}
}

// Destination is the receiving side of a live migration: it boots its
// instance when the first round names the VM, loads the state at
// stop-and-copy and acknowledges the resume.
type Destination struct {
	Strategy string     // "" = the source's
	Config   vmm.Config // Serial, budgets; name, args and RAM come from the source
	inst     vmm.Instance
}

// Receive runs the protocol on conn and returns the resumed (paused,
// ready to Run) instance; the caller runs and closes it.
func (d *Destination) Receive(conn io.ReadWriter) (vmm.Instance, *vmstate.State, *LiveReport, error) {
	st, rep, err := ReceiveLive(conn, func(h Hello) error {
		name := d.Strategy
		if name == "" {
			name = h.Strategy
		}
		s, err := vmm.LookupStrategy(name)
		if err != nil {
			return err
		}
		if h.Image.PV != s.PV {
			return vmm.CheckMove(&vmstate.State{Strategy: h.Strategy, Image: h.Image}, s.Name, s.PV)
		}
		img, err := ImageFor(&vmstate.State{Guest: h.Guest, Image: h.Image, MemSize: h.MemSize})
		if err != nil {
			return err
		}
		d.inst, err = Boot(s, img, d.Config, h.Guest, h.Args, h.MemSize)
		return err
	})
	if err == nil && d.inst == nil {
		err = fmt.Errorf("migrate: the source sent no hello")
	}
	if err == nil {
		err = Load(d.inst, st)
	}
	if err == nil {
		_, err = conn.Write([]byte{1}) // resumed: the source's downtime ends
	}
	if err != nil {
		if d.inst != nil {
			d.inst.Close()
			d.inst = nil
		}
		return nil, st, rep, err
	}
	return d.inst, st, rep, nil
}
