package tui

import "github.com/charmbracelet/lipgloss"

// Styles. Every distinction a style makes is also made in plain text (a
// marker, a word), so the UI reads the same without color — which is how
// the golden tests render it.
var (
	colAccent = lipgloss.Color("39")  // titles
	colExit   = lipgloss.Color("203") // exits: control went to the VMM
	colQuiet  = lipgloss.Color("245") // handled without an exit
	colHole   = lipgloss.Color("214") // sensitive but not trapping
	colOK     = lipgloss.Color("78")
	colWarn   = lipgloss.Color("220")

	stTitle     = lipgloss.NewStyle().Bold(true).Foreground(colAccent)
	stRule      = lipgloss.NewStyle().Foreground(lipgloss.Color("238"))
	stDim       = lipgloss.NewStyle().Foreground(colQuiet)
	stBold      = lipgloss.NewStyle().Bold(true)
	stCurrent   = lipgloss.NewStyle().Bold(true).Background(lipgloss.Color("236")).Foreground(lipgloss.Color("229"))
	stLabel     = lipgloss.NewStyle().Foreground(lipgloss.Color("141"))
	stDiff      = lipgloss.NewStyle().Bold(true).Foreground(colWarn)
	stExit      = lipgloss.NewStyle().Foreground(colExit)
	stQuiet     = lipgloss.NewStyle().Foreground(colQuiet)
	stHole      = lipgloss.NewStyle().Foreground(colHole)
	stNewest    = lipgloss.NewStyle().Bold(true)
	stWhy       = lipgloss.NewStyle().Foreground(lipgloss.Color("252")).Italic(true)
	stStatusBar = lipgloss.NewStyle().Background(lipgloss.Color("235")).Foreground(lipgloss.Color("252"))
	stStatusKey = lipgloss.NewStyle().Background(lipgloss.Color("235")).Foreground(colAccent).Bold(true)
	stFlash     = lipgloss.NewStyle().Background(lipgloss.Color("235")).Foreground(colWarn)
	stErr       = lipgloss.NewStyle().Foreground(colExit).Bold(true)

	// run states in the status bar
	stPaused  = lipgloss.NewStyle().Background(lipgloss.Color("235")).Foreground(colWarn).Bold(true)
	stRunning = lipgloss.NewStyle().Background(lipgloss.Color("235")).Foreground(colOK).Bold(true)
	stStopped = lipgloss.NewStyle().Background(lipgloss.Color("235")).Foreground(colAccent).Bold(true)
	stFailed  = lipgloss.NewStyle().Background(lipgloss.Color("235")).Foreground(colExit).Bold(true)
)

// causeStyle colors an instruction's cause tag by what it does under ring
// compression: faults into the VMM, or the hole.
func causeStyle(cause string) lipgloss.Style {
	switch {
	case cause == "":
		return stDim
	case len(cause) > 5 && cause[:5] == "sens/":
		return stHole
	case cause == "cpuid":
		return stDim
	}
	return stExit
}
