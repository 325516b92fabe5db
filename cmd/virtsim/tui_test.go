package main

import (
	"bytes"
	"strings"
	"testing"
)

// Without a terminal, virtsim tui says so and exits 64 (go test's stdout
// is never a terminal).
func TestTUINeedsATerminal(t *testing.T) {
	var out, errb bytes.Buffer
	if st := realMain([]string{"tui", "--guest", "irq-toggle"}, &out, &errb); st != exitUsage {
		t.Errorf("status %d, want %d", st, exitUsage)
	}
	if !strings.Contains(errb.String(), "virtsim tui: needs a terminal") {
		t.Errorf("stderr %q", errb.String())
	}
	if st := realMain([]string{"tui", "--bogus"}, &out, &errb); st != exitUsage {
		t.Errorf("bad flag: status %d", st)
	}
	out.Reset()
	if st := realMain([]string{"tui", "--help"}, &out, &errb); st != exitOK || !strings.Contains(out.String(), "virtsim tui [--guest NAME | --image FILE]") {
		t.Errorf("--help: status %d, %q", st, out.String())
	}
}
