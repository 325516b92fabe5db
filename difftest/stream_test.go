package difftest

import (
	"os"
	"testing"
	"time"
)

func TestRenderAssembles(t *testing.T) {
	if err := ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	var ss []Stream
	for _, f := range Families {
		for i := int64(0); i < 3; i++ {
			ss = append(ss, Generate(f, i, 12))
		}
	}
	src := Render(ss)
	elf, err := Assemble(src, "")
	if err != nil {
		os.WriteFile("/tmp/rel/bad.S", []byte(src), 0o644)
		t.Fatal(err)
	}
	if os.Getenv("VIRTSIM_SHOW") != "" {
		os.WriteFile("/tmp/rel/streams.S", []byte(src), 0o644)
		q, err := RunQEMU(elf, 20*time.Second)
		t.Logf("qemu %v:\n%s", err, q)
		for _, s := range Strategies {
			o, err := RunVM(s, elf, 0)
			t.Logf("%s %v:\n%s", s, err, o)
		}
	}
}
