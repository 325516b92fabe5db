// Package tui is virtsim's terminal UI (`virtsim tui`): a student steps
// through a guest under any strategy and sees every exit happen and why.
//
// # Screens
//
// The main view has a status bar (guest, strategy, run state), the code
// around the PC (AT&T syntax, symbols from the image, each instruction's
// event cause), the real CPU beside the virtual one, the event log (newest
// last, each event explained by the table in explain.go), counts by cause
// and mechanism as bars, and the guest's serial output. Overlays: the
// guest picker (g), the translation of the block at the PC under a binary
// translator (t; see Translator), every strategy's counts side by side (v),
// and help (?).
//
// # Architecture
//
// Model (model.go) is the top bubbletea model: a state machine over
// viewState (which screen) and runState (where the guest is), holding one
// sub-model per pane (pane_*.go); styles and key bindings live in
// styles.go and keys.go. The guest runs on its own goroutine (session.go),
// the only one that touches the vmm.Instance: the model sends it controls
// (step, run to the next exit, continue, pause) and receives updateMsgs —
// new events and a Snapshot of the CPU, code bytes, counts and serial
// output — through a tea.Cmd waiting on a channel, so the UI never blocks
// on the guest. Continue runs in slices of runs to the next exit, so pause
// takes effect at the next exit. The compare view runs each strategy to
// completion with vmm.RunGuest in background commands, one after another.
package tui
