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
	case viewPages:
		body = m.pagesView(m.w, m.h-2)
		keys = overlayKeys{m.keys, true}
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
				insns := insnsText(m.snap.Instructions, m.snap.Counters, " insns")
				if _, tc := m.snap.Counters[vmm.CounterTCInstructions]; tc {
					// the TC's share where it fits, else that the count includes it
					all := stStatusBar.Render(" ") + strings.Join(parts, sep) + sep + insns + " · " + n
					if lipgloss.Width(all) > m.w {
						insns = fmt.Sprintf("%d insns+TC", m.snap.Instructions)
					}
				}
				n = insns + " · " + n
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
		if m.hasSnap && m.snap.HasVirtual && m.snap.Real.CPL != m.snap.Virtual.CPL {
			// the cpu pane shows it first: say what it is
			about += fmt.Sprintf("\nring compression (cpu pane: CPL %d real, %d virtual): the VMM runs the guest kernel at CPL %d, not %d, "+
				"so its privileged instructions fault into the VMM; the virtual CPU keeps the CPL the kernel believes it has.",
				m.snap.Real.CPL, m.snap.Virtual.CPL, m.snap.Real.CPL, m.snap.Virtual.CPL)
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
		out = append(out, scrolled(translationRows(t, w), &m.scroll, h-1)...)
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
	return append(out, scrolled(m.compare.view(w, h-1), &m.scroll, h-1)...)
}

// vocabulary defines the words the screens use, for the help view.
var vocabulary = [][2]string{
	{"exit", "a transfer of control from the guest to the VMM: the guest stops, the VMM runs, the guest resumes"},
	{"ring compression", "the VMM runs the guest kernel at real CPL 1 instead of 0, so its privileged instructions fault into the VMM; the virtual CPU keeps the CPL 0 the kernel believes it has (the cpu pane shows real 1, virtual 0)"},
	{"virtual CPU", "the privileged state the VMM keeps for the guest (IF, CPL, CR0, GDTR, ...): what the guest would see on bare metal"},
	{"virtual IF", "the guest's interrupt flag as the VMM keeps it: cli/sti change it, the real IF stays 1 so the VMM still gets interrupts"},
	{"x86 hole", "sensitive instructions (pushf, popf, sgdt, smsw, mov from cs, ...) that do not fault at CPL 1 and so show the VMM's real state: Popek and Goldberg's condition fails on x86"},
	{"TC", "translation cache: where bt keeps the translations of guest blocks; guest kernel code only ever runs from there"},
	{"in-tc", "an event translated code handled in place, with no exit; counted by a counter on the translated instruction, so the log shows them from the counts (×N when a run made several)"},
	{"callout", "translated code jumping into the VMM: an exit"},
	{"chaining", "a jump between translated blocks, patched to lead straight to its target once that is translated"},
	{"shared-info", "the page pv's kernel and the VMM share: cli/sti are stores to the event mask there, no exit"},
	{"hypercall", "pv's kernel calling the VMM on purpose (call 0x7000+32*nr), like a system call one level down"},
}

func (m *Model) helpView(w, h int) []string {
	var text []string
	add := func(s ...string) { text = append(text, s...) }
	add(stTitle.Render("virtsim tui")+" — watch a guest kernel run under a VMM strategy, one exit at a time.", "")
	add(wrap("An exit is a transfer of control from the guest to the VMM. Every event has a cause (what the guest did: "+
		"priv/cli, io/out:0x3f8, int/0x80, exc/#DE, …) and a mechanism (how the VMM got control). "+
		"The same guest runs under every strategy, so the counts compare.", w)...)
	term := func(name, text string, col int) {
		add(hanging("  "+name, text, w, col)...)
	}
	add("", stTitle.Render("panes"))
	for _, p := range [][2]string{
		{"code", "disassembly around the PC (▶ marks the next instruction), with each instruction's cause"},
		{"cpu", "the real CPU beside the virtual one the VMM keeps for the guest; ≠ marks a difference"},
		{"events", "newest last, each with why it happened under this strategy"},
		{"counts", "events by cause and mechanism"},
		{"serial", "the guest's console"},
	} {
		term(p[0], p[1], 11)
	}
	add("", stTitle.Render("keys"))
	for _, l := range strings.Split(m.help.FullHelpView(m.keys.FullHelp()), "\n") {
		add("  " + l)
	}
	add("  j/k, ↓/↑, space scroll this view, the compare view and the translation view")
	add("", stTitle.Render("words"))
	for _, v := range vocabulary {
		term(v[0], v[1], 19)
	}
	add("", stTitle.Render("mechanisms"))
	for _, mi := range vmm.Mechanisms {
		kind := ""
		if mi.Exit {
			kind = "(exit) "
		}
		term(mi.Name, kind+mi.Explain, 14)
	}
	add("", stTitle.Render("strategies"))
	for _, s := range m.strategies {
		desc := s.Description
		if err := m.usable(s); err != nil {
			desc = fmt.Sprintf("unavailable: %v", err)
		}
		term(s.Name, desc, 10)
	}
	return scrolled(text, &m.scroll, h)
}

// vmmNames explains the names translated code shows for the VMM's own
// code and data (translate's listings name them): what to look for, the
// name as the student reads it, and what it is. They are looked for in
// order, and a name is explained only when the translation uses it.
var vmmNames = [][3]string{
	{"vcpu.IF", "vcpu.IF", "the virtual interrupt flag, in a guest-writable VMM page: cli becomes a store of 0 there, sti a store of 2 (EFLAGS.IF is bit 9: bit 1 of the flags' second byte)"},
	{"vcpu.IOPL", "vcpu.IOPL", "the virtual I/O privilege level: pushf and popf merge it into the flags image"},
	{"vcpu.save_", "vcpu.save_REG", "a save slot: an in-TC sequence parks a register there and restores it"},
	{"vcpu.", "vcpu.REG", "the virtual CPU's registers (GDTR, IDTR, CR0, TR, LDTR), read-only to the guest: sgdt, sidt, smsw, str read them there"},
	{"slot", "slotN", "an indirect-jump slot after an in-TC sti or popf; it leads on to the next instruction, or to a callout while an interrupt waits for the virtual IF"},
	{"callout.chain", "callout.chain.ADDR", "a jump to the translator: once the target block is translated it is patched into a direct jump to it (chaining)"},
	{"callout.ret-miss", "callout.ret-miss", "the return lookup missed: the translator translates the return target and fills its table entry"},
	{"callout.emulate", "callout.emulate.ADDR", "a callout stub: the VMM runs the guest instruction at ADDR (privileged, I/O, int n) against the virtual CPU — an exit"},
	{"callout.", "callout.KIND.ADDR", "a callout stub: a jump into the VMM, which acts for the guest instruction at ADDR — an exit"},
	{"tc.", "tc.ADDR", "the translation of the guest block at ADDR (a chained jump)"},
	{"(,%ecx,4)", "jmp *TABLE(,%ecx,4)", "the return (or indirect-jump) lookup: a table with an entry per low 16 bits of the guest target, leading to that block's prologue, which checks the whole address"},
	{"popf_flags", "popf_flags", "a table that merges the virtual IF and IOPL into the flags popf loads"},
	{"pushf_flags", "pushf_flags", "a table that puts the virtual IF and IOPL into the flags image pushf stores"},
	{"selector_view", "selector_view", "a table that shows the real RPL-1 selector as the guest's RPL 0 (mov from a segment register)"},
}

// translationRows lays a translation out: each guest instruction beside
// the first translated instruction made of it (Translation aligns the two
// texts line by line), then what the marks and the VMM's names mean.
func translationRows(t *Translation, w int) []string {
	g := strings.Split(strings.TrimRight(t.Guest, "\n"), "\n")
	c := strings.Split(strings.TrimRight(t.Code, "\n"), "\n")
	gw, cw := len("guest block"), len("translation cache")
	for _, l := range g {
		gw = max(gw, len(strings.TrimRight(l, " ")))
	}
	for _, l := range c {
		cw = max(cw, len(l))
	}
	// the translation keeps what it needs (up to half); the guest side,
	// whose end is only the kind of rewrite, is cut first
	cw = min(cw, (w-1)/2)
	gw = min(gw, w-1-cw)
	rows := max(len(g), len(c))
	gl := box(append([]string{stTitle.Render("guest block")}, g...), gw, rows+1)
	cl := box(append([]string{stTitle.Render("translation cache")}, c...), w-gw-1, rows+1)
	out := beside(gl, cl)
	out = append(out, "")
	var key []string
	if strings.Contains(t.Guest, "* ") {
		key = append(key, "* marks a guest instruction not copied unchanged; the word after it says what it became (in-tc: rewritten to run in place, no exit; callout: a call into the VMM, an exit; jcc, call, ret: control flow rewritten).")
	}
	code := t.Code
	for _, n := range vmmNames {
		if strings.Contains(code, n[0]) {
			key = append(key, n[1]+": "+n[2])
			code = strings.ReplaceAll(code, n[0], "")
		}
	}
	for _, k := range key {
		for _, l := range indented(k, w, 2) {
			out = append(out, stDim.Render(l))
		}
	}
	return out
}

// pagesView shows memory virtualization: each page's entry in the guest's
// own tables beside the entry the real CPU uses, and why they differ.
func (m *Model) pagesView(w, h int) []string {
	where := ""
	if m.strat != nil {
		where = "under " + m.strat.Name
	}
	out := []string{title("page tables", where, w)}
	p := m.snap.Paging
	switch {
	case !m.hasSnap || !m.snap.HasPaging:
		out = append(out, stDim.Render("this strategy does not show its page tables."))
		return out
	case !p.GuestPaging:
		out = append(out, wrap("the guest has not turned paging on (CR0.PG = 0): linear addresses are physical. "+
			"Try pgfault, ptemod, forkwait or higherhalf (g picks a guest), step until they set CR0.PG, and come back.", w)...)
		return out
	}
	var rows []string
	rows = append(rows, wrap(pagingIntro(m.strat.Name), w)...)
	rows = append(rows, "", stBold.Render(fmt.Sprintf("%-10s  %-12s  %-12s  %s", "linear", "guest entry", "real entry", "")))
	for i, r := range p.Rows {
		g, rl := "—", "—"
		if r.GuestPresent {
			g = fmt.Sprintf("%08x %s", r.Guest&^0xFFF, pteFlags(r.Guest))
		}
		if r.RealPresent {
			rl = fmt.Sprintf("%08x %s", r.Real&^0xFFF, pteFlags(r.Real))
		}
		mark := " "
		if r.Differs {
			mark = stFlash.Render("≠")
		}
		label := ""
		switch i {
		case 0:
			label = "EIP"
		case 1:
			label = "ESP"
		case 2:
			label = "CR2"
		}
		rows = append(rows, fit(fmt.Sprintf("%08x %-3s %-14s %-14s %s", r.Lin, label, g, rl, mark), w))
		if r.Differs && r.Why != "" {
			for _, l := range wrap("   "+r.Why, w) {
				rows = append(rows, stDim.Render(l))
			}
		}
	}
	return append(out, scrolled(rows, &m.scroll, h-1)...)
}

// pteFlags spells an entry's permission and state bits.
func pteFlags(v uint32) string {
	f := []byte("-----")
	if v&0x1 != 0 {
		f[0] = 'P'
	}
	if v&0x2 != 0 {
		f[1] = 'W'
	}
	if v&0x4 != 0 {
		f[2] = 'U'
	}
	if v&0x20 != 0 {
		f[3] = 'A'
	}
	if v&0x40 != 0 {
		f[4] = 'D'
	}
	return string(f)
}

// pagingIntro says what the two columns are under each strategy.
func pagingIntro(strategy string) string {
	switch strategy {
	case "native":
		return "native: the CPU walks the guest's own tables, so both columns are the same entries (P present, W writable, U user, A accessed, D dirty — the hardware sets A and D)."
	case "trap":
		return "trap: shadow paging. The guest's tables (left) are what the guest wrote; the CPU really uses the shadow (right), which the VMM fills in on faults: an entry missing on the right is a hidden fault waiting to happen; a page-table page is read-only on the right so every guest write to it traps (pt/write)."
	case "pv":
		return "pv: Xen's direct paging. The guest's tables are the real ones (both columns agree); they are read-only to the guest, which changes them by mmu_update hypercalls the VMM validates."
	}
	return strategy + ": the guest's entry beside the one the real CPU uses."
}

// insnsText is an instruction count as the status bar (unit " insns")
// and the compare view show it: under a binary translator the count is
// what the CPU executed, and the translation cache's share (translated
// guest code with the translation's own) is named apart, so that it is not
// read as the guest's own count.
func insnsText(n uint64, counters map[string]uint64, unit string) string {
	s := fmt.Sprint(n) + unit
	if tc, ok := counters[vmm.CounterTCInstructions]; ok {
		s += fmt.Sprintf(" (%d in TC)", tc)
	}
	return s
}
