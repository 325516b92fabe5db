package difftest

import (
	"testing"
)

// FuzzTranslate: random kernel code (a generated stream of any family,
// from the fuzzer's seed and length) runs translated under bt and directly
// under native; the final states must agree, or the difference must be a
// documented one. The translator never crashes the VMM.
func FuzzTranslate(f *testing.F) {
	if err := ToolsAvailable(); err != nil {
		f.Skip(err)
	}
	for i := range Families {
		f.Add(int64(i), uint8(i), uint8(12))
	}
	f.Fuzz(func(t *testing.T, seed int64, fam, length uint8) {
		s := Generate(Families[int(fam)%len(Families)], seed, 1+int(length)%32)
		elf, err := Assemble(Render([]Stream{s}), "")
		if err != nil {
			t.Fatalf("a generated stream does not assemble: %v", err)
		}
		a, err := Run("native", elf)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Run("bt", elf)
		if err != nil {
			t.Fatal(err)
		}
		ra, rb := reports(a, 1)[0], reports(b, 1)[0]
		if ra == rb {
			return
		}
		d := Divergence{Stream: s, Ref: "native", Got: "bt", RefLine: ra, GotLine: rb}
		if d.Known = Classify(d); d.Known == nil {
			t.Errorf("bt differs from native:\n%s", d)
		}
	})
}
