package vmm

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParseGolden: any bytes either fail to parse with an error or parse
// into records that write out and parse back to the same records (the
// format round-trips); the parser never panics.
func FuzzParseGolden(f *testing.F) {
	if b, err := os.ReadFile("testdata/native.golden"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(""))
	f.Add([]byte("# comment\n"))
	f.Add([]byte("run hello \"\" native\n  stop exit 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGolden(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := g.Write(&out); err != nil {
			t.Fatalf("write: %v", err)
		}
		g2, err := ParseGolden(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("a written golden does not parse: %v\n%s", err, out.Bytes())
		}
		var out2 bytes.Buffer
		if err := g2.Write(&out2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), out2.Bytes()) {
			t.Fatalf("round trip differs:\n%s\n---\n%s", out.Bytes(), out2.Bytes())
		}
	})
}
