package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the UI answers, with its help text. It implements
// help.KeyMap: the short help is the one-line bar at the bottom, the full
// help the key list of the help screen.
type keyMap struct {
	Help, Step, Next, Continue, Restart, Strategy, PrevStrategy,
	Translate, Compare, Pages, Guests, Quit, Back, Pick,
	Save, Restore, Move key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Help:         key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Step:         key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "step")),
		Next:         key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "next exit")),
		Continue:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "run/pause")),
		Restart:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "restart")),
		Strategy:     key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "strategy")),
		PrevStrategy: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous strategy")),
		Translate:    key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "translation")),
		Compare:      key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "compare")),
		Pages:        key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "page tables")),
		Guests:       key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "guests")),
		Quit:         key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Back:         key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Pick:         key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Save:         key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "save the VM")),
		Restore:      key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "restore the saved VM")),
		Move:         key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "move to the next strategy")),
	}
}

// ShortHelp is the help bar: the most useful first, since a narrow
// terminal cuts the end off ("?" is first so help is always discoverable).
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Help, k.Step, k.Next, k.Continue, k.Strategy, k.Translate, k.Compare, k.Guests, k.Restart, k.Quit}
}

// FullHelp groups the keys for the help screen.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Step, k.Next, k.Continue, k.Restart},
		{k.Strategy, k.PrevStrategy, k.Translate, k.Compare, k.Pages},
		{k.Save, k.Restore, k.Move},
		{k.Guests, k.Help, k.Back, k.Quit},
	}
}

// overlayKeys is the help bar of the full-screen views (translation,
// compare, help): the run keys still work in the translation view.
type overlayKeys struct {
	keyMap
	run bool
}

func (k overlayKeys) ShortHelp() []key.Binding {
	if k.run {
		return []key.Binding{k.Back, k.Step, k.Next, k.Strategy, k.Compare, k.Help, k.Quit}
	}
	return []key.Binding{k.Back, k.Strategy, k.Translate, k.Guests, k.Help, k.Quit}
}

// pickerKeys is the help bar of the guest picker.
type pickerKeys struct{ keyMap }

func (k pickerKeys) ShortHelp() []key.Binding {
	up := key.NewBinding(key.WithKeys("up"), key.WithHelp("↑/↓", "choose"))
	filter := key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter"))
	return []key.Binding{up, k.Pick, filter, k.Strategy, k.Back, k.Quit}
}
