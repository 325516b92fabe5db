package tui

import (
	"fmt"
	"sort"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"virtsim/guest"
	"virtsim/vmm"
)

// The compare view runs the current guest under every available strategy
// to completion, with counting, one strategy after another in the
// background (a tea.Cmd each), and shows their counts side by side.

// compareState is where one strategy's run is.
type compareState int

const (
	cmpPending compareState = iota
	cmpRunning
	cmpDone
	cmpFailed
	cmpUnavailable
)

type compareRow struct {
	Strategy string
	State    compareState
	Reason   string // why unavailable or failed
	Res      *vmm.Result
}

// compareMsg carries one finished run.
type compareMsg struct {
	key string
	idx int
	row compareRow
}

// runFunc runs a guest to completion with counting (vmm.RunGuest; tests
// substitute fakes).
type runFunc func(s *vmm.Strategy, img *guest.Image, cfg vmm.Config) (*vmm.Result, error)

func runToCompletion(s *vmm.Strategy, img *guest.Image, cfg vmm.Config) (*vmm.Result, error) {
	return vmm.RunGuest(s, img, cfg, false)
}

type compareModel struct {
	key  string // the guest and arguments the rows are for
	rows []compareRow
}

// running reports whether a run is still under way.
func (c *compareModel) running() bool {
	for _, r := range c.rows {
		if r.State == cmpPending || r.State == cmpRunning {
			return true
		}
	}
	return false
}

// nextCmd starts the next pending run, if any.
func (m *Model) nextCompare() tea.Cmd {
	c := &m.compare
	for i := range c.rows {
		if c.rows[i].State != cmpPending {
			continue
		}
		c.rows[i].State = cmpRunning
		s := m.strategies[i]
		img, err := m.target.image(s, m.opts.MemSize)
		if err != nil {
			c.rows[i].State, c.rows[i].Reason = cmpUnavailable, err.Error()
			continue
		}
		cfg := m.config(true)
		key, run := c.key, m.run
		return func() tea.Msg {
			row := compareRow{Strategy: s.Name, State: cmpDone}
			res, err := safeRun(run, s, img, cfg)
			row.Res = res
			if err != nil {
				row.State, row.Reason = cmpFailed, err.Error()
			}
			return compareMsg{key: key, idx: i, row: row}
		}
	}
	return nil
}

func safeRun(run runFunc, s *vmm.Strategy, img *guest.Image, cfg vmm.Config) (res *vmm.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("strategy %s panicked: %v", s.Name, r)
		}
	}()
	return run(s, img, cfg)
}

// startCompare (re)starts the comparison for the current guest unless it
// is already there.
func (m *Model) startCompare() tea.Cmd {
	key := m.target.key()
	if m.compare.key == key {
		return nil
	}
	m.compare = compareModel{key: key}
	for _, s := range m.strategies {
		row := compareRow{Strategy: s.Name}
		if err := m.usable(s); err != nil {
			row.State, row.Reason = cmpUnavailable, err.Error()
		}
		m.compare.rows = append(m.compare.rows, row)
	}
	return m.nextCompare()
}

func (m *Model) onCompare(msg compareMsg) tea.Cmd {
	if msg.key != m.compare.key || msg.idx >= len(m.compare.rows) {
		return nil
	}
	m.compare.rows[msg.idx] = msg.row
	return m.nextCompare()
}

func (c *compareModel) view(w, h int) []string {
	var cols []compareRow
	var unavailable []compareRow
	for _, r := range c.rows {
		if r.State == cmpUnavailable {
			unavailable = append(unavailable, r)
		} else {
			cols = append(cols, r)
		}
	}
	causeW := 15
	cw := 16
	if len(cols) > 0 {
		cw = max(8, min(18, (w-causeW)/len(cols)))
	}
	cell := func(s string) string { return fit(" "+s, cw) }
	var out []string
	head := fit("cause", causeW)
	for _, r := range cols {
		head += cell(stTitle.Render(r.Strategy))
	}
	out = append(out, head)
	// rows: every cause any strategy saw
	causes := map[string]bool{}
	for _, r := range cols {
		if r.Res != nil {
			for k := range r.Res.Counts {
				causes[k.Cause] = true
			}
		}
	}
	var names []string
	for c := range causes {
		names = append(names, c)
	}
	sort.Strings(names)
	foot := []string{"exits", "events", "instructions", "stopped"}
	out = append(out, c.causeRows(names, cols, causeW, cell)...)
	out = append(out, stRule.Render(strings.Repeat("─", min(w, causeW+cw*len(cols)))))
	for _, f := range foot {
		line := fit(stBold.Render(f), causeW)
		for _, r := range cols {
			line += cell(summaryCell(r, f))
		}
		out = append(out, line)
	}
	for _, r := range cols {
		if r.State == cmpFailed {
			for _, l := range wrap(r.Strategy+" failed: "+r.Reason, w) {
				out = append(out, stErr.Render(l))
			}
		}
	}
	for _, r := range unavailable {
		for _, l := range wrap(fmt.Sprintf("%s: not run here: %s", r.Strategy, r.Reason), w) {
			out = append(out, stDim.Render(l))
		}
	}
	out = append(out, "")
	for _, l := range wrap("trap, callout, hypercall, vmexit… are exits: the guest stopped and the VMM ran. "+
		"machine, in-tc and shared-info events happened without one.", w) {
		out = append(out, stDim.Render(l))
	}
	// what the strategies want the student to know about this run
	for _, r := range cols {
		if r.Res == nil {
			continue
		}
		for _, n := range r.Res.Notes {
			out = append(out, "")
			for _, l := range wrap(r.Strategy+": "+n, w) {
				out = append(out, stHole.Render(l))
			}
		}
	}
	return out
}

func (c *compareModel) causeRows(names []string, cols []compareRow, causeW int, cell func(string) string) []string {
	var out []string
	for _, name := range names {
		line := fit(name, causeW)
		for _, r := range cols {
			var parts []string
			if r.Res != nil {
				for _, k := range r.Res.Counts.Sorted() {
					if k.Cause != name {
						continue
					}
					st := stQuiet
					if k.Mech.IsExit() {
						st = stExit
					}
					parts = append(parts, fmt.Sprintf("%d %s", r.Res.Counts[k], st.Render(k.Mech.String())))
				}
			}
			text := strings.Join(parts, ", ")
			if text == "" {
				text = stDim.Render("·")
			}
			line += cell(text)
		}
		out = append(out, line)
	}
	return out
}

func summaryCell(r compareRow, what string) string {
	switch r.State {
	case cmpPending:
		return stDim.Render("waiting")
	case cmpRunning:
		return stDim.Render("running…")
	case cmpFailed:
		if what == "stopped" {
			return stErr.Render("error")
		}
		if r.Res == nil {
			return ""
		}
	}
	res := r.Res
	switch what {
	case "exits":
		return fmt.Sprint(res.Exits)
	case "events":
		return fmt.Sprint(res.Counts.Total())
	case "instructions":
		if res.Instructions == 0 && res.Stop.Kind == vmm.StopExit {
			return stDim.Render("not counted") // kvm: the guest ran on the CPU
		}
		return insnsText(res.Instructions, res.Counters, "")
	}
	return stopWord(res.Stop)
}

// stopWord is a short description of how a guest stopped.
func stopWord(s vmm.Stop) string {
	switch s.Kind {
	case vmm.StopExit:
		return fmt.Sprintf("exit %d", s.Status)
	case vmm.StopNone:
		return "paused"
	}
	return s.Kind.String()
}
