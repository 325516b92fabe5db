package tui

import (
	"github.com/charmbracelet/bubbles/list"

	"virtsim/guest"
)

// workloadItem is one guest in the picker.
type workloadItem struct{ w guest.Workload }

func (i workloadItem) Title() string { return i.w.Name }
func (i workloadItem) Description() string {
	return i.w.Description + " · per iteration: " + i.w.ExitsPerIter
}
func (i workloadItem) FilterValue() string { return i.w.Name }

// newPicker makes the guest picker over the catalogue.
func newPicker(ws []guest.Workload) list.Model {
	items := make([]list.Item, len(ws))
	for i, w := range ws {
		items[i] = workloadItem{w}
	}
	d := list.NewDefaultDelegate()
	l := list.New(items, d, 80, 20)
	l.Title = "pick a guest — each is a tiny x86 kernel; enter runs it"
	l.SetShowHelp(false) // the model's help bar shows the keys
	l.SetStatusBarItemName("guest", "guests")
	l.DisableQuitKeybindings()
	return l
}

// selectWorkload moves the picker's cursor to the named workload.
func selectWorkload(l *list.Model, name string) {
	for i, it := range l.Items() {
		if it.(workloadItem).w.Name == name {
			l.Select(i)
			return
		}
	}
}
