package difftest

import (
	"flag"
	"testing"
	"time"
)

var only = flag.String("corpus", "", "TestCorpusOne: the corpus guest to run and show")

// TestCorpusOne prints one corpus guest's outcome under QEMU and every
// strategy (go test ./difftest -run CorpusOne -corpus NAME -v): a tool for
// writing guests, skipped without -corpus.
func TestCorpusOne(t *testing.T) {
	if *only == "" {
		t.Skip("no -corpus NAME")
	}
	elf, err := BuildCorpus(*only)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := RunQEMU(elf, 20*time.Second); err == nil {
		t.Logf("qemu: %s", o)
	} else {
		t.Logf("qemu: %v", err)
	}
	for _, s := range Strategies {
		o, err := RunVM(s, elf, 0)
		t.Logf("%s: %s %v", s, o, err)
	}
}
