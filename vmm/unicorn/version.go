package unicorn

import "fmt"

// The libunicorn this binding was written and tested for: 2.1.x. The
// workarounds in this package (and the facts pinned by substrate_test.go)
// depend on the library's internals — the layout of the uc_context blob,
// which uc_ctl does what, where EIP is precise — so another minor version
// must not be used silently. scripts/unicorn.sh fetches a matching one.
const (
	BindingMajor = 2
	BindingMinor = 1
)

// BindingVersion is the library version the binding expects, as a pattern.
var BindingVersion = fmt.Sprintf("%d.%d.x", BindingMajor, BindingMinor)

// LibVersion is a libunicorn version: the linked library's (uc_version) or
// the headers' (UC_API_*).
type LibVersion struct{ Major, Minor, Patch uint32 }

func (v LibVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// checkVersion decides whether the linked library (lib) and the headers
// the shim was compiled against (hdr) fit the binding.
func checkVersion(lib, hdr LibVersion) error {
	const fix = "run 'make deps' (scripts/unicorn.sh fetches Debian's libunicorn-dev %s into .deps/unicorn) and rebuild"
	if lib.Major != BindingMajor || lib.Minor != BindingMinor {
		return fmt.Errorf("unicorn: linked libunicorn is %v, but this binding was written for %s: "+fix, lib, BindingVersion, BindingVersion)
	}
	if hdr.Major != lib.Major || hdr.Minor != lib.Minor {
		return fmt.Errorf("unicorn: compiled against libunicorn %v headers but linked with %v: "+fix, hdr, lib, BindingVersion)
	}
	return nil
}
