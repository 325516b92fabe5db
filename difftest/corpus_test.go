package difftest

import (
	"testing"
	"time"

	"virtsim/internal/qemu"
)

// TestCorpus runs every hand-written corpus guest under QEMU and under
// every strategy: the outcomes must agree, or the difference must be a
// documented one (Known) — and a documented one that no longer occurs
// fails too, so the table stays true.
func TestCorpus(t *testing.T) {
	if err := ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	if err := qemu.Available(); err != nil {
		t.Skip(err)
	}
	for _, name := range CorpusNames() {
		t.Run(name, func(t *testing.T) {
			elf, err := BuildCorpus(name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := RunQEMU(elf, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if want.End != "exit 0" {
				t.Errorf("under QEMU the guest ends %q, not with status 0: fix the guest\n%s", want.End, want.Serial)
			}
			for _, s := range Strategies {
				got, err := RunVMTwoPass(s, elf, 0)
				if err != nil {
					t.Fatal(err)
				}
				k, known := KnownCorpus[CorpusKey{name, s}]
				switch {
				case got != want && !known:
					t.Errorf("%s: under %s\n%s\nunder QEMU\n%s", name, s, got, want)
				case got == want && known:
					t.Errorf("%s under %s agrees with QEMU now: remove the known difference %q", name, s, k.Why)
				}
			}
		})
	}
}
