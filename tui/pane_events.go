package tui

import (
	"fmt"
	"sort"
	"strings"

	"virtsim/vmm"
)

// maxLog is how many events the log keeps (the counts keep every one).
const maxLog = 500

// loggedEvent is an event with its sequence number in the run.
type loggedEvent struct {
	N uint64
	vmm.Event
}

// eventLog is the event pane: newest last, each with why it happened.
type eventLog struct {
	events []loggedEvent
	total  uint64
}

func (p *eventLog) reset() { *p = eventLog{} }

// add appends a batch from the guest goroutine; dropped events (a batch
// keeps only the newest) still count in the sequence numbers.
func (p *eventLog) add(evs []vmm.Event, dropped int) {
	p.total += uint64(dropped)
	for _, e := range evs {
		p.total++
		p.events = append(p.events, loggedEvent{p.total, e})
	}
	if n := len(p.events); n > maxLog {
		p.events = append(p.events[:0], p.events[n-maxLog:]...)
	}
}

func (p *eventLog) newest() (loggedEvent, bool) {
	if len(p.events) == 0 {
		return loggedEvent{}, false
	}
	return p.events[len(p.events)-1], true
}

// view renders the log; about describes the strategy for the empty log.
func (p *eventLog) view(w, h int, about string) []string {
	last, ok := p.newest()
	if !ok {
		out := []string{
			stDim.Render("no events yet: s steps one instruction, n runs to the next exit, c runs on."),
			"",
		}
		for _, l := range wrap(about, w) {
			out = append(out, stDim.Render(l))
		}
		return box(out, w, h)
	}
	var why []string
	whyRows := min(len(wrap("why: "+Why(last.Event), w)), 2)
	if h < 4 {
		whyRows = 1
	}
	rows := h - whyRows
	start := max(0, len(p.events)-rows)
	shown := p.events[start:]
	// columns as wide as the visible events need
	causeW, mechW := 8, 4
	for _, e := range shown {
		causeW = max(causeW, len(e.Cause))
		mechW = max(mechW, len(e.Mech.String()))
	}
	showN := w >= 100
	var out []string
	for i, e := range shown {
		out = append(out, p.row(e, showN, causeW, mechW, w, i == len(shown)-1))
	}
	for len(out) < rows {
		out = append(out, "")
	}
	full := wrap("why: "+Why(last.Event), w)
	why = full[:whyRows]
	if len(full) > whyRows {
		why[whyRows-1] = fit(why[whyRows-1]+" …", w)
	}
	for _, l := range why {
		out = append(out, stWhy.Render(l))
	}
	return box(out, w, h)
}

func (p *eventLog) row(e loggedEvent, showN bool, causeW, mechW, w int, newest bool) string {
	prefix := ""
	if showN {
		prefix = fmt.Sprintf("%6d ", e.N)
	}
	mech := fmt.Sprintf("%-*s", mechW, e.Mech)
	if e.Mech.IsExit() {
		mech = stExit.Render(mech)
	} else {
		mech = stQuiet.Render(mech)
	}
	line := fmt.Sprintf("%s%08x %-*s ", prefix, e.PC, causeW, e.Cause) + mech + " " + Short(e.Event)
	if newest {
		return stNewest.Render(fit(line, w))
	}
	return line
}

// countsPane shows the events by cause and mechanism as bars.
type countsPane struct {
	counts vmm.Counts
}

func (p *countsPane) set(c vmm.Counts) { p.counts = c }

func (p *countsPane) detail() string {
	if p.counts == nil {
		return ""
	}
	return fmt.Sprintf("%d exits, %d events", p.counts.Exits(), p.counts.Total())
}

func (p *countsPane) view(w, h int) []string {
	if len(p.counts) == 0 {
		return box([]string{stDim.Render("nothing counted yet")}, w, h)
	}
	keys := p.counts.Sorted()
	sort.SliceStable(keys, func(i, j int) bool { return p.counts[keys[i]] > p.counts[keys[j]] })
	var peak uint64
	for _, k := range keys {
		peak = max(peak, p.counts[k])
	}
	shown := keys
	more := 0
	if len(keys) > h {
		shown, more = keys[:h-1], len(keys)-(h-1)
	}
	numW := len(fmt.Sprint(peak))
	causeW, mechW := 8, 4
	for _, k := range shown {
		causeW = max(causeW, len(k.Cause))
		mechW = max(mechW, len(k.Mech.String()))
	}
	barW := w - causeW - 1 - mechW - 1 - numW - 1
	var out []string
	for _, k := range shown {
		n := p.counts[k]
		line := fmt.Sprintf("%-*s %-*s ", causeW, k.Cause, mechW, k.Mech)
		if barW > 0 {
			bar := int((n*uint64(barW) + peak - 1) / peak)
			st := stQuiet
			if k.Mech.IsExit() {
				st = stExit
			}
			line += st.Render(strings.Repeat("█", bar)) + strings.Repeat(" ", barW-bar) + " "
		}
		out = append(out, line+fmt.Sprintf("%*d", numW, n))
	}
	if more > 0 {
		out = append(out, stDim.Render(fmt.Sprintf("+%d more (v compares them all)", more)))
	}
	return box(out, w, h)
}

// serialPane shows the tail of the guest's console.
type serialPane struct {
	text string
}

func (p *serialPane) view(w, h int) []string {
	if p.text == "" {
		return box([]string{stDim.Render("(no output yet)")}, w, h)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(p.text, "\n"), "\n") {
		l = strings.TrimRight(l, "\r")
		if i := strings.LastIndexByte(l, '\r'); i >= 0 {
			l = l[i+1:]
		}
		lines = append(lines, printable(l))
	}
	if len(lines) > h {
		lines = lines[len(lines)-h:]
	}
	return box(lines, w, h)
}

// printable replaces control characters so guest output cannot drive the
// terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '·'
		}
		return r
	}, s)
}
