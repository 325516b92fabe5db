package tui

import (
	"io"

	tea "github.com/charmbracelet/bubbletea"
)

// Run opens the terminal UI on in and out (a terminal) and returns when the
// user quits.
func Run(opts Options, in io.Reader, out io.Writer) error {
	m, err := New(opts)
	if err != nil {
		return err
	}
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(in), tea.WithOutput(out))
	_, err = p.Run()
	if m.eng != nil {
		m.eng.Close()
	}
	return err
}
