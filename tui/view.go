package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"

	"virtsim/vmm"
)

// View renders the current screen: always exactly the terminal's height,
// every line at most its width.
func (m *Model) View() string {
	if m.w < minWidth || m.h < minHeight {
		msg := fmt.Sprintf("virtsim tui needs a terminal of at least %d×%d; this one is %d×%d. 80×24 or larger reads best. q quits.",
			minWidth, minHeight, m.w, m.h)
		return strings.Join(box(wrap(msg, max(m.w, 1)), max(m.w, 1), max(m.h, 1)), "\n")
	}
	var body []string
	var keys help.KeyMap = m.keys
	switch m.view {
	case viewPicker:
		body = strings.Split(m.picker.View(), "\n")
		keys = pickerKeys{m.keys}
	case viewTrans:
		body = m.transView(m.w, m.h-2)
		keys = overlayKeys{m.keys, true}
	case viewCompare:
		body = m.compareView(m.w, m.h-2)
		keys = overlayKeys{m.keys, false}
	case viewHelp:
		body = m.helpView(m.w, m.h-2)
		keys = overlayKeys{m.keys, false}
	default:
		body = m.mainView()
	}
	lines := []string{m.statusBar()}
	lines = append(lines, box(body, m.w, m.h-2)...)
	if m.flash != "" {
		// a message answers the last key until the next one
		lines = append(lines, fit(stFlash.Render("» "+m.flash), m.w))
	} else {
		lines = append(lines, fit(m.help.ShortHelpView(keys.ShortHelp()), m.w))
	}
	return strings.Join(lines, "\n")
}

// stateText says where the guest is, for the status bar.
func (m *Model) stateText() (string, lipgloss.Style) {
	switch m.state {
	case runNone:
		return "no guest", stPaused
	case runBooting:
		return "booting…", stRunning
	case runPaused:
		return fmt.Sprintf("paused at %#08x", m.snap.PC), stPaused
	case runBusy:
		if m.lastReq == ctlStep {
			return "stepping…", stRunning
		}
		return "running to the next exit…", stRunning
	case runRunning:
		if m.pausing {
			return "pausing (at the next exit)…", stRunning
		}
		return "running", stRunning
	case runStopped:
		s := m.snap.Stop
		switch s.Kind {
		case vmm.StopExit:
			return fmt.Sprintf("exited, status %d", s.Status), stStopped
		case vmm.StopHalted:
			return "halted forever", stFailed
		case vmm.StopBudget:
			return "stopped: " + s.Reason, stFailed
		}
		return fmt.Sprintf("crashed at %#08x: %s", s.PC, s.Reason), stFailed
	}
	return "failed", stFailed
}

func (m *Model) statusBar() string {
	sep := stStatusBar.Render(" │ ")
	var parts []string
	if m.w >= 100 || m.target == nil {
		parts = append(parts, stStatusKey.Render("virtsim"))
	}
	if m.target != nil {
		parts = append(parts, stStatusKey.Render(m.target.label()))
	}
	if m.strat != nil {
		parts = append(parts, stStatusBar.Render(m.strat.Name))
	}
	if m.target == nil {
		parts = append(parts, stPaused.Render("choose a guest"))
	} else {
		text, st := m.stateText()
		parts = append(parts, st.Render(text))
		if m.hasSnap {
			// instructions are counted on the Unicorn strategies only
			n := fmt.Sprintf("%d exits", m.snap.Exits)
			if m.snap.Instructions > 0 || m.snap.Events == 0 {
				n = fmt.Sprintf("%d insns · %s", m.snap.Instructions, n)
			}
			parts = append(parts, stStatusBar.Render(n))
		}
	}
	s := stStatusBar.Render(" ") + strings.Join(parts, sep)
	if pad := m.w - lipgloss.Width(s); pad > 0 {
		s += stStatusBar.Render(strings.Repeat(" ", pad))
	}
	return fit(s, m.w)
}

func (m *Model) mainView() []string {
	l := layoutFor(m.w, m.h)
	var out []string
	codeDetail := m.code.where()
	if codeDetail != "" {
		codeDetail = "at " + codeDetail
	}
	out = append(out, beside([]string{title("code", codeDetail, l.CodeW)}, []string{m.cpu.title(l.CPUW)})...)
	out = append(out, beside(m.code.view(l.CodeW, l.TopH), m.cpu.view(l.CPUW, l.TopH))...)
	evDetail := "newest last"
	if m.events.total > 0 {
		evDetail = fmt.Sprintf("newest last · %d so far", m.events.total)
	}
	out = append(out, title("events", evDetail, l.W))
	if m.err != nil {
		lines := []string{stErr.Render("error: ") + m.err.Error()}
		lines = append(lines, stDim.Render("r tries again · tab switches strategy · g picks another guest"))
		out = append(out, box(lines, l.W, l.EventsH)...)
	} else {
		about := ""
		if m.strat != nil {
			about = m.strat.Name + ": " + m.strat.Description
		}
		out = append(out, m.events.view(l.W, l.EventsH, about)...)
	}
	out = append(out, beside([]string{title("counts", m.counts.detail(), l.CountsW)}, []string{title("serial", "COM1", l.SerialW)})...)
	out = append(out, beside(m.counts.view(l.CountsW, l.BottomH), m.serial.view(l.SerialW, l.BottomH))...)
	return out
}

func (m *Model) transView(w, h int) []string {
	where := ""
	if m.hasSnap {
		where = fmt.Sprintf("the block at %s (%#08x) under %s", symbolize(m.img, m.snap.PC), m.snap.PC, m.strat.Name)
	}
	out := []string{title("translation", where, w)}
	t := m.snap.Trans
	switch {
	case t == nil:
		out = append(out, stDim.Render("asking the guest…"))
	case !t.Supported:
		out = append(out, stBold.Render("no translation under this strategy."), "")
		out = append(out, wrap(fmt.Sprintf("%s runs the guest's own code directly on the CPU: nothing is translated. "+
			"A binary translator copies each guest block into a translation cache, rewriting what must not run as it is "+
			"(cli, sti, popf, I/O) into code that uses the virtual CPU or calls the VMM; this view shows a block beside its translation.", m.strat.Name), w)...)
		out = append(out, "", m.translatorHint())
	case !t.OK:
		msg := fmt.Sprintf("no translation of %#08x yet: a block is translated the first time it runs (s or n runs it).", t.PC)
		if t.Err != "" {
			msg = "the translator failed: " + t.Err
		}
		out = append(out, wrap(msg, w)...)
	default:
		half := (w - 1) / 2
		g := strings.Split(strings.TrimRight(t.Guest, "\n"), "\n")
		c := strings.Split(strings.TrimRight(t.Code, "\n"), "\n")
		rows := max(len(g), len(c))
		gl := box(append([]string{stTitle.Render("guest block")}, g...), half, min(rows+1, h-1))
		cl := box(append([]string{stTitle.Render("translation cache")}, c...), w-half-1, min(rows+1, h-1))
		out = append(out, beside(gl, cl)...)
	}
	return out
}

// translatorHint tells where to find a translating strategy.
func (m *Model) translatorHint() string {
	s := m.lookup("bt")
	switch {
	case s == nil:
		return stDim.Render("bt (binary translation) is not part of this build yet.")
	case s == m.strat:
		return ""
	}
	if err := m.usable(s); err != nil {
		return stDim.Render(fmt.Sprintf("bt (binary translation) cannot run here: %v", err))
	}
	return stDim.Render("tab switches strategy: bt is the binary translator.")
}

func (m *Model) compareView(w, h int) []string {
	detail := ""
	if m.target != nil {
		detail = m.target.label() + " · every strategy, run to completion with counting"
	}
	if m.compare.running() {
		detail += " · running…"
	}
	out := []string{title("compare", detail, w)}
	return append(out, m.compare.view(w, h-1)...)
}

func (m *Model) helpView(w, h int) []string {
	var text []string
	add := func(s ...string) { text = append(text, s...) }
	add(stTitle.Render("virtsim tui")+" — watch a guest kernel run under a VMM strategy, one exit at a time.", "")
	for _, l := range wrap("An exit is a transfer of control from the guest to the VMM. Every event has a cause (what the guest did: "+
		"priv/cli, io/out:0x3f8, int/0x80, exc/#DE, …) and a mechanism (how the VMM got control). "+
		"The same guest runs under every strategy, so the counts compare.", w) {
		add(l)
	}
	add("", stTitle.Render("panes"))
	for _, p := range [][2]string{
		{"code", "disassembly around the PC (▶ marks the next instruction), with each instruction's cause"},
		{"cpu", "the real CPU beside the virtual one the VMM keeps for the guest; ≠ marks a difference"},
		{"events", "newest last, each with why it happened under this strategy"},
		{"counts", "events by cause and mechanism"},
		{"serial", "the guest's console"},
	} {
		add(fit(fmt.Sprintf("  %-8s %s", p[0], p[1]), w))
	}
	add("", stTitle.Render("keys"))
	for _, l := range strings.Split(m.help.FullHelpView(m.keys.FullHelp()), "\n") {
		add("  " + l)
	}
	add("", stTitle.Render("mechanisms"))
	for _, mi := range vmm.Mechanisms {
		kind := "      "
		if mi.Exit {
			kind = "exit  "
		}
		add(fit(fmt.Sprintf("  %-11s %s%s", mi.Name, kind, mi.Explain), w))
	}
	add("", stTitle.Render("strategies"))
	for _, s := range m.strategies {
		line := fmt.Sprintf("  %-7s %s", s.Name, s.Description)
		if err := m.usable(s); err != nil {
			line = fmt.Sprintf("  %-7s unavailable: %v", s.Name, err)
		}
		add(fit(line, w))
	}
	m.scroll = min(m.scroll, max(0, len(text)-h))
	out := text[m.scroll:]
	if len(out) > h && h > 0 {
		out = append(out[:h-1], stDim.Render(fmt.Sprintf("↓ %d more lines: j/↓ scrolls, k/↑ back", len(out)-h+1)))
	}
	return out
}
