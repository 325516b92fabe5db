package unicorn

import (
	"strings"
	"testing"
)

// The linked library is the one the binding was written for: the start-up
// check passes, and the headers agree with the library.
func TestLinkedVersion(t *testing.T) {
	if err := CheckVersion(); err != nil {
		t.Fatal(err)
	}
	lib, hdr := Linked(), Headers()
	if lib.Major != BindingMajor || lib.Minor != BindingMinor || hdr != lib {
		t.Errorf("linked %v, headers %v, binding written for %s", lib, hdr, BindingVersion)
	}
	if Version() != lib.String() {
		t.Errorf("Version() = %q, Linked() = %v", Version(), lib)
	}
}

func TestCheckVersion(t *testing.T) {
	v := func(a, b, c uint32) LibVersion { return LibVersion{a, b, c} }
	cases := []struct {
		lib, hdr LibVersion
		wantErr  string // substring; "" = accepted
	}{
		{v(2, 1, 1), v(2, 1, 1), ""},
		{v(2, 1, 3), v(2, 1, 1), ""}, // a patch release of 2.1 is accepted
		{v(2, 0, 1), v(2, 0, 1), "linked libunicorn is 2.0.1, but this binding was written for 2.1.x"},
		{v(2, 2, 0), v(2, 2, 0), "linked libunicorn is 2.2.0"},
		{v(1, 0, 3), v(2, 1, 1), "linked libunicorn is 1.0.3"},
		{v(2, 1, 1), v(2, 0, 1), "compiled against libunicorn 2.0.1 headers but linked with 2.1.1"},
	}
	for _, c := range cases {
		err := checkVersion(c.lib, c.hdr)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("checkVersion(%v, %v) = %v, want nil", c.lib, c.hdr, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("checkVersion(%v, %v) = %v, want an error with %q", c.lib, c.hdr, err, c.wantErr)
		case c.wantErr != "" && !strings.Contains(err.Error(), "make deps"):
			t.Errorf("checkVersion(%v, %v) = %v: does not say what to do", c.lib, c.hdr, err)
		}
	}
}
