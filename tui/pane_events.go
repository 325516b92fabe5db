package tui

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"virtsim/vmm"
)

// maxLog is how many events the log keeps (the counts keep every one).
const maxLog = 500

// loggedEvent is an event with its sequence number in the run. Events a
// strategy counts in place without reporting each one (bt's in-TC
// instructions: a counter in C on the translated instruction) are logged
// from the counts: Count of them since the last update, at a known PC only
// when a single step made exactly one (PCKnown).
type loggedEvent struct {
	N uint64
	vmm.Event
	Count   uint64 // > 1: this row stands for Count events of one kind
	Counted bool   // taken from the counts, not reported as it happened
	NoPC    bool   // the guest PC is not known (a run made them)
}

// countedOnly are the mechanisms whose events a strategy may count without
// reporting each one; the log shows them from the change in the counts.
func countedOnly(m vmm.Mechanism) bool { return m == vmm.MechInTC }

// fromCounts makes log rows for the events counted since the previous
// snapshot but not reported: for each cause, one row. pc is where a
// single step started (the one instruction it ran), or 0 for a run.
func fromCounts(before, after vmm.Counts, reported []vmm.Event, step bool, pc uint32) []loggedEvent {
	seen := map[vmm.Key]uint64{}
	for _, e := range reported {
		seen[vmm.Key{Cause: e.Cause, Mech: e.Mech}]++
	}
	var out []loggedEvent
	for _, k := range after.Sorted() {
		if !countedOnly(k.Mech) {
			continue
		}
		n := after[k] - before[k] - min(seen[k], after[k]-before[k])
		if after[k] < before[k] || n == 0 {
			continue
		}
		e := loggedEvent{Event: vmm.Event{Cause: k.Cause, Mech: k.Mech}, Count: n, Counted: true}
		if step && n == 1 {
			e.PC = pc
		} else {
			e.NoPC = true
		}
		out = append(out, e)
	}
	return out
}

// addCounted appends rows made by fromCounts.
func (p *eventLog) addCounted(evs []loggedEvent) {
	for _, e := range evs {
		p.total += max(e.Count, 1)
		e.N = p.total
		p.events = append(p.events, e)
	}
	if n := len(p.events); n > maxLog {
		p.events = append(p.events[:0], p.events[n-maxLog:]...)
	}
}

// why explains a logged event: Why, and for one taken from the counts, how
// it was seen.
func (e loggedEvent) why() string {
	w := Why(e.Event)
	if !e.Counted {
		return w
	}
	if e.NoPC {
		return fmt.Sprintf("%s — %d of them since the last stop: translated code counts them in place, without stopping, so they are shown from the counts", w, e.Count)
	}
	return w + " — seen in the counts: translated code counts it in place, without stopping"
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
		p.events = append(p.events, loggedEvent{N: p.total, Event: e})
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
	// the newest event's explanation is shown whole where it fits,
	// leaving at least two rows of the log
	whyRows := max(1, min(len(wrap("why: "+last.why(), w)), h-2))
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
	full := wrap("why: "+last.why(), w)
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
	pc := fmt.Sprintf("%08x", e.PC)
	if e.NoPC {
		n := fmt.Sprintf("×%d", e.Count)
		pc = strings.Repeat(" ", max(0, 8-utf8.RuneCountInString(n))) + n
	}
	line := fmt.Sprintf("%s%s %-*s ", prefix, pc, causeW, e.Cause) + mech + " " + Short(e.Event)
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
		// a long line wraps (at the pane's width, characters not words:
		// it is a console) so the end of the output is always in view
		r := []rune(printable(l))
		for len(r) > w && w > 0 {
			lines = append(lines, string(r[:w]))
			r = r[w:]
		}
		lines = append(lines, string(r))
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
