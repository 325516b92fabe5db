package difftest

import (
	"embed"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The second corpus: guests written by hand in other styles than
// virtsim's runtime (guest/src/lib): their own GDTs without Accessed bits,
// placed anywhere, LDTs, IDTs with gates of every kind and DPL. Each must
// print under every strategy what it prints under QEMU.
//
//go:embed corpus/*.S corpus/*.inc
var corpusFS embed.FS

// CorpusNames lists the corpus guests (the .S files), sorted.
func CorpusNames() []string {
	ents, _ := corpusFS.ReadDir("corpus")
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".S"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// BuildCorpus assembles corpus guest name into a multiboot image.
func BuildCorpus(name string) ([]byte, error) {
	src, err := corpusFS.ReadFile("corpus/" + name + ".S")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "virtsim-corpus-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// Every file of the corpus may be included: the .inc files, and a
	// guest that is a variant of another (ring3io includes ring3.S).
	ents, err := corpusFS.ReadDir("corpus")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := corpusFS.ReadFile("corpus/" + e.Name())
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return nil, err
		}
	}
	return Assemble(string(src), dir)
}
