package guest

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// The guest SDK: `virtsim new-guest NAME` writes a folder from which `make`
// builds NAME.elf and NAME.pv.elf out of C. It is made of the template in
// sdk/ (Makefile, a C example, the C interface sdk/virtsim.h and its
// implementation over the pv_ops macros) and the very runtime, macro layer
// and linker script the catalogue's workloads are built with (src/), so
// the SDK never drifts from them.
//
//go:embed sdk src/include/*.inc src/lib/*.s src/link.ld
var sdkFS embed.FS

// sdkFiles maps the embedded files to where they go in a new guest's
// folder; "NAME" in a destination is the guest's name.
var sdkFiles = []struct{ from, to string }{
	{"sdk/Makefile", "Makefile"},
	{"sdk/README.md", "README.md"},
	{"sdk/guest.c", "NAME.c"},
	{"sdk/sdk/*", "sdk/"},
	{"src/include/*.inc", "include/"},
	{"src/lib/*.s", "rt/"},
	{"src/link.ld", "link.ld"},
}

var guestNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// ErrGuestExists: the folder NewGuest would write to holds files already.
var ErrGuestExists = errors.New("folder exists and is not empty")

// NewGuest writes the SDK for a guest called name into dir (created; it
// must not hold anything yet, so nothing is ever overwritten) and returns
// the files written, relative to dir.
func NewGuest(name, dir string) ([]string, error) {
	if !guestNameRE.MatchString(name) {
		return nil, fmt.Errorf("guest name %q: use a lower-case letter, then letters, digits or _ (at most 32)", name)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s: %w (nothing written)", dir, ErrGuestExists)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	type file struct {
		to   string
		data []byte
	}
	var files []file
	for _, m := range sdkFiles {
		names, err := fs.Glob(sdkFS, m.from)
		if err != nil || len(names) == 0 {
			return nil, fmt.Errorf("guest SDK: no embedded %s", m.from)
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := sdkFS.ReadFile(n)
			if err != nil {
				return nil, err
			}
			to := strings.ReplaceAll(m.to, "NAME", name)
			if strings.HasSuffix(to, "/") {
				to += path.Base(n)
			}
			files = append(files, file{to, []byte(strings.ReplaceAll(string(b), "@NAME@", name))})
		}
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.to))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return written, err
		}
		written = append(written, f.to)
	}
	return written, nil
}
