package guest

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

// platformImages holds the platform guests built by guest/src/build.sh from
// guest/src/platform/*.s: native images that drive the PC platform — the MP
// tables, the local and I/O APICs, the CMOS clock, the UART's receive
// interrupt — directly. They are not catalogue workloads (no PV build, no
// per-iteration law); the tests in guest/platform check them against QEMU
// under every strategy, and `virtsim run --image guest/images/platform/NAME.elf`
// runs one.
//
//go:embed images/platform/*.elf
var platformImages embed.FS

// PlatformGuests lists the platform guests by name.
func PlatformGuests() []string {
	ents, _ := platformImages.ReadDir("images/platform")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".elf"))
	}
	sort.Strings(names)
	return names
}

// PlatformGuest returns the image of platform guest name.
func PlatformGuest(name string) ([]byte, error) {
	b, err := platformImages.ReadFile(path.Join("images/platform", name+".elf"))
	if err != nil {
		return nil, fmt.Errorf("guest: no platform guest %q (have %s)", name, strings.Join(PlatformGuests(), ", "))
	}
	return b, nil
}

// LoadPlatformGuest loads platform guest name for a machine with mem bytes
// of RAM, named after the guest.
func LoadPlatformGuest(name string, mem uint32) (*Image, error) {
	b, err := PlatformGuest(name)
	if err != nil {
		return nil, err
	}
	img, err := LoadELF(b, mem)
	if err != nil {
		return nil, fmt.Errorf("guest: platform guest %s: %w", name, err)
	}
	img.Name = name
	return img, nil
}
