package labs

import (
	"errors"
	"strings"
	"testing"

	_ "virtsim/hwassist"
	_ "virtsim/hypercall"
	_ "virtsim/translate"
	_ "virtsim/trap"
)

func TestBuiltinLabsParse(t *testing.T) {
	all, err := All("")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 5 {
		t.Fatalf("%d built-in labs, want at least 5", len(all))
	}
	for i, l := range all {
		if len(l.Steps) == 0 || len(l.Questions) == 0 {
			t.Errorf("lab %d %s: %d steps, %d questions", i+1, l.Name, len(l.Steps), len(l.Questions))
		}
		if got, n, err := Find(all, l.Name); err != nil || got != l || n != i+1 {
			t.Errorf("Find(%s) = %v, %d, %v", l.Name, got, n, err)
		}
	}
	if _, _, err := Find(all, "nosuch"); err == nil || !strings.Contains(err.Error(), "popek-goldberg") {
		t.Errorf("Find(nosuch): %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"no title", "starts with its title"},
		{"# T\n? q: no answer line\ntext", "has no \"= ...\" line"},
		{"# T\n= exits trap io -", "must follow a question"},
		{"# T\n? q: x\n= frobnicate trap io -", "unknown answer kind"},
		{"# T\n? q: x\n= exits warp io -", "unknown strategy"},
		{"# T\n? q: x\n= exits trap nosuch -", "unknown workload"},
		{"# T\n? q: x\n= serial trap io - cli", "/REGEXP/"},
		{"# T\n? q: x\n= serial trap io - /nogroup/", "no (group)"},
		{"# T\n? q: x\n= per-iter trap io 10 x exits", "not an iteration count"},
		{"# T\n? q: x\n= count trap io -", "wrong number of words"},
		{"# T\n? q: x\n= exits trap io -\n? q: y\n= exits trap io -", "used twice"},
		{"# T\n$ make run", "$ virtsim COMMAND"},
	} {
		if _, err := Parse("t.md", tt.text); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to mention %q", tt.text, err, tt.want)
		}
	}
}

func TestSame(t *testing.T) {
	for _, tt := range []struct {
		expected, given string
		same            bool
	}{
		{"0", "0", true}, {"0", " 0 ", true}, {"0", "0.0", true}, {"16", "0x10", true}, {"2", "3", false},
		{"in-tc", "IN-TC", true}, {"in-tc", "trap", false},
		{"sens/pushf", "pushf", true}, {"sens/pushf", "sens/popf", false}, {"sens/pushf", "popf", false},
		{"cpuid, hlt, io/out:0x80", "io/out:0x80, cpuid,hlt", true}, {"cpuid, hlt", "cpuid", false},
		{"movb $0x0,vcpu.IF", "movb $0x0,vcpu.if", true}, {"1", "", false},
	} {
		if got := Same(tt.expected, tt.given); got != tt.same {
			t.Errorf("Same(%q, %q) = %v", tt.expected, tt.given, got)
		}
	}
}

// The answers a student who understood the theory gives are the ones the
// runs compute: bare metal clears IF; trap-and-emulate shows the real IF
// (the hole) while bt and pv close it; cli/sti cost 2 exits per pair under
// trap and none under bt and pv; bt's chained loop costs no translator
// work per iteration.
func TestAnswersFromRuns(t *testing.T) {
	all, err := All("")
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner()
	want := map[string]map[string]string{
		"popek-goldberg":     {"native-cli-if": "0", "trap-cli-if": "1", "cs-rpl": "1", "most": "pushf", "bt-cli-if": "0"},
		"binary-translation": {"cli-mech": "in-tc", "bt-per-iter": "0", "chain-per-iter": "0", "miss-per-iter": "0", "cli-becomes": "movb $0x0,vcpu.IF"},
		"hypercalls":         {"trap-per-iter": "2", "pv-per-iter": "0", "pv-cli-mech": "shared-info", "syscall-per-iter": "0"},
		// pgfault's documented iteration: one true #PF, whose handler
		// writes one PTE, and one more PTE write to unmap the page
		"shadow-paging": {"native-faults": "10", "true-faults": "10", "pt-writes-per-iter": "2", "mmu-update-per-iter": "2"},
	}
	for _, l := range all {
		answers, ok := want[l.Name]
		if !ok {
			continue
		}
		for _, v := range Check(l, answers, r) {
			if _, asked := answers[v.Q.ID]; !asked {
				if v.Err != nil {
					t.Errorf("%s %s: %v", l.Name, v.Q.ID, v.Err)
				}
				continue
			}
			if v.Err != nil || !v.OK {
				t.Errorf("%s %s: answered %q, the run says %q (%v)", l.Name, v.Q.ID, v.Given, v.Expected, v.Err)
			}
		}
	}
	// the hardware-assist lab is checkable only where KVM runs
	l, _, err := Find(all, "hardware-assist")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Check(l, nil, r) {
		if v.Err != nil && !errors.Is(v.Err, ErrUnavailable) {
			t.Errorf("hardware-assist %s: %v", v.Q.ID, v.Err)
		}
	}
}
