package tui

import (
	"fmt"

	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// cpuRow is one line of the privileged-state table.
type cpuRow struct {
	name string
	get  func(s vmm.CPUState) string
}

// cpuRows is in the order that matters to a student of virtualization: the
// interrupt flag and privilege level first (what trap-and-emulate
// virtualizes on every cli/sti), then selectors and system registers.
var cpuRows = []cpuRow{
	{"IF", func(s vmm.CPUState) string { return bit(s.IF()) }},
	{"CPL", func(s vmm.CPUState) string { return fmt.Sprint(s.CPL) }},
	{"CS", func(s vmm.CPUState) string { return fmt.Sprintf("%04x", s.Seg[1]) }},
	{"SS", func(s vmm.CPUState) string { return fmt.Sprintf("%04x", s.Seg[2]) }},
	{"CR0", func(s vmm.CPUState) string { return fmt.Sprintf("%08x", s.CR0) }},
	{"CR3", func(s vmm.CPUState) string { return fmt.Sprintf("%08x", s.CR3) }},
	{"GDT", func(s vmm.CPUState) string { return fmt.Sprintf("%08x", s.GDTBase) }},
	{"IDT", func(s vmm.CPUState) string { return fmt.Sprintf("%08x", s.IDTBase) }},
	{"IOPL", func(s vmm.CPUState) string { return fmt.Sprint(s.EFLAGS & x86.FlagIOPL >> 12) }},
	{"TR", func(s vmm.CPUState) string { return fmt.Sprintf("%04x", s.TR) }},
	{"DS", func(s vmm.CPUState) string { return fmt.Sprintf("%04x", s.Seg[3]) }},
	{"CR4", func(s vmm.CPUState) string { return fmt.Sprintf("%08x", s.CR4) }},
	{"LDTR", func(s vmm.CPUState) string { return fmt.Sprintf("%04x", s.LDTR) }},
}

// widths of the privileged-state table and of the register column
const (
	tableW = 25
	gprW   = 12
)

var gprNames = [8]string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// cpuPane shows the real CPU beside the virtual one.
type cpuPane struct {
	snap  Snapshot
	valid bool
}

func (p *cpuPane) set(s Snapshot) { p.snap, p.valid = s, true }

// title is the pane's title row, which doubles as the column header.
func (p *cpuPane) title(w int) string {
	if !p.valid || !p.snap.HasCPU {
		return title("cpu", "", w)
	}
	cols := "value"
	if p.snap.HasVirtual {
		cols = fmt.Sprintf("%-10s%s", "real", "virtual")
	}
	head := fmt.Sprintf("%-15s", cols)
	if w >= tableW+1+gprW {
		head = fmt.Sprintf("%-21s", cols) + "registers"
	}
	return title("cpu ", head, w)
}

// differs counts the rows where real and virtual state differ.
func (p *cpuPane) differs() int {
	n := 0
	if p.snap.HasVirtual {
		for _, r := range cpuRows {
			if r.get(p.snap.Real) != r.get(p.snap.Virtual) {
				n++
			}
		}
	}
	return n
}

func (p *cpuPane) view(w, h int) []string {
	if !p.valid {
		return box(nil, w, h)
	}
	s := p.snap
	if !s.HasCPU {
		return box([]string{stDim.Render("this strategy does not expose its CPU state")}, w, h)
	}
	var left []string
	if s.HasVirtual {
		for _, r := range cpuRows {
			rv, vv := r.get(s.Real), r.get(s.Virtual)
			line := fmt.Sprintf("%-4s %-9s %-9s", r.name, rv, vv)
			if rv != vv {
				line = stDiff.Render(line + "≠")
			}
			left = append(left, line)
		}
	} else {
		for _, r := range cpuRows {
			left = append(left, fmt.Sprintf("%-4s %-9s", r.name, r.get(s.Real)))
		}
	}
	if w < tableW+1+gprW {
		return box(left, w, h)
	}
	g := s.Real // the guest's registers: the virtual CPU's where there is one
	if s.HasVirtual {
		g = s.Virtual
	}
	right := []string{fmt.Sprintf("eip %08x", s.PC)}
	for i, n := range gprNames {
		right = append(right, fmt.Sprintf("%s %08x", n, g.GPR[i]))
	}
	right = append(right, fmt.Sprintf("efl %08x", g.EFLAGS))
	right = append(right, diskLines(s)...)
	lb := box(left, tableW, h)
	rb := box(right, w-tableW-1, h)
	out := make([]string, h)
	for i := range out {
		out[i] = lb[i] + " " + rb[i]
	}
	return out
}

// diskLines show the disks once the guest uses one: the ATA drive's status
// register and sectors moved, the transfer in progress (command, LBA,
// sectors after this one, bytes of this one moved), the ring's indices
// (req: the guest's request producer, cons: the backend's consumer, rsp:
// its response producer), notifications (the exits the ring costs) and its
// last request (op, sectors@first sector, response), and the run's exits
// per sector moved (every exit so far over every sector so far).
func diskLines(s Snapshot) []string {
	if !s.HasDisk {
		return nil
	}
	d := s.Disk
	var out []string
	if d.ATACommands > 0 {
		out = append(out, fmt.Sprintf("ata st=%02x r%d w%d", d.ATAStatus, d.SectorsRead, d.SectorsWritten))
		if t := d.ATA; t.Active {
			out = append(out, fmt.Sprintf("ata %s lba=%d +%d @%d", ataOps[t.Command], t.LBA, t.Remaining, t.Pos))
		}
	}
	if d.RingConnected {
		out = append(out, fmt.Sprintf("ring req=%d cons=%d rsp=%d", d.ReqProd, d.Cons, d.RspProd),
			fmt.Sprintf("ring notify=%d err=%d", d.Notifications, d.RingErrors))
		if d.RingServed {
			r := d.RingLast
			out = append(out, fmt.Sprintf("ring last %s %d@%d %s", ringOps[r.Op], r.NrSectors, r.Sector, ringStatus[d.RingStatus]))
		}
	}
	if n := d.SectorsRead + d.SectorsWritten + d.RingSectors; n > 0 {
		out = append(out, fmt.Sprintf("exits/sector %.1f", float64(s.Exits)/float64(n)))
	}
	return out
}

// Names of the disk commands the UI shows (others print as "").
var (
	ataOps     = map[uint8]string{0x20: "read", 0x21: "read", 0x30: "write", 0x31: "write", 0xEC: "identify"}
	ringOps    = map[uint8]string{0: "read", 1: "write", 3: "flush"}
	ringStatus = map[int]string{0: "ok", -1: "error", -2: "unsupported"}
)
