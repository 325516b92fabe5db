package tui

import (
	"fmt"

	"virtsim/vmm"
)

// Translator is implemented by instances of strategies that translate guest
// code (binary translation). The translation view asks for the block that
// contains pc: the guest's instructions as they are in guest memory beside
// the code the translator made of them in its translation cache, each as
// ready-to-print text, one instruction per line. ok is false when no
// translation of pc exists (yet).
//
// It is asked on the guest goroutine, between runs, like every other
// Instance method.
type Translator interface {
	Translation(pc uint32) (guestBlock, tcCode string, ok bool)
}

// Translation is what the translation view shows.
type Translation struct {
	PC uint32
	// Supported is false when the strategy does not translate at all.
	Supported bool
	// OK is false when it does, but has no translation of PC (yet).
	OK          bool
	Guest, Code string
	Err         string
}

// translationAt asks the instance, guarding against a translator that
// panics (a strategy under construction).
func translationAt(inst vmm.Instance, pc uint32) (t *Translation) {
	t = &Translation{PC: pc}
	tr, ok := inst.(Translator)
	if !ok {
		return t
	}
	t.Supported = true
	defer func() {
		if r := recover(); r != nil {
			t.OK, t.Err = false, fmt.Sprint(r)
		}
	}()
	t.Guest, t.Code, t.OK = tr.Translation(pc)
	return t
}
