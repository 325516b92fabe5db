package guest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// TestImagesUpToDate rebuilds every workload with guest/src/build.sh into a
// temporary directory and requires the committed images to be identical:
// edit a source, run the script, commit the images with it.
func TestImagesUpToDate(t *testing.T) {
	for _, tool := range []string{"as", "ld", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("cannot rebuild the images: %s is not on PATH (install binutils)", tool)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "src/build.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("src/build.sh: %v\n%s", err, b)
	}
	var built, committed []string
	for _, pat := range []string{"*.elf", "*.bin"} {
		b, err := filepath.Glob(filepath.Join(out, pat))
		if err != nil {
			t.Fatal(err)
		}
		c, err := filepath.Glob(filepath.Join("images", pat))
		if err != nil {
			t.Fatal(err)
		}
		built, committed = append(built, b...), append(committed, c...)
	}
	names := func(paths []string) []string {
		var n []string
		for _, p := range paths {
			n = append(n, filepath.Base(p))
		}
		sort.Strings(n)
		return n
	}
	if b, c := names(built), names(committed); !equalStrings(b, c) {
		t.Errorf("build.sh builds %v, guest/images holds %v", b, c)
	}
	for _, p := range built {
		name := filepath.Base(p)
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("images", name))
		if err != nil {
			continue // reported above
		}
		if !bytes.Equal(got, want) {
			t.Errorf("guest/images/%s is stale: it differs from a fresh build of its sources (run guest/src/build.sh and commit the result)", name)
		}
	}
}

// TestBuildReproducible: two builds give the same bytes.
func TestBuildReproducible(t *testing.T) {
	for _, tool := range []string{"as", "ld", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("cannot build the images: %s is not on PATH (install binutils)", tool)
		}
	}
	if testing.Short() {
		t.Skip("-short: one rebuild (TestImagesUpToDate) is enough")
	}
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if out, err := exec.Command("sh", "src/build.sh", dir).CombinedOutput(); err != nil {
			t.Fatalf("src/build.sh: %v\n%s", err, out)
		}
	}
	files, _ := filepath.Glob(filepath.Join(a, "*.elf"))
	bins, _ := filepath.Glob(filepath.Join(a, "*.bin"))
	for _, f := range append(files, bins...) {
		x, _ := os.ReadFile(f)
		y, err := os.ReadFile(filepath.Join(b, filepath.Base(f)))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s: two builds differ", filepath.Base(f))
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
