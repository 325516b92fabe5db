package difftest

import (
	"os"
	"testing"
)

// TestEmitCorpus writes one corpus guest's image to a file (-corpus NAME
// and VIRTSIM_EMIT=path): for running it by hand with virtsim run --image.
func TestEmitCorpus(t *testing.T) {
	path := os.Getenv("VIRTSIM_EMIT")
	if *only == "" || path == "" {
		t.Skip("needs -corpus NAME and VIRTSIM_EMIT=path")
	}
	elf, err := BuildCorpus(*only)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, elf, 0o644); err != nil {
		t.Fatal(err)
	}
}
