package main

import (
	"flag"
	"fmt"

	"virtsim/guest"
	"virtsim/translate"
	"virtsim/vmm"
)

// sizeFlag is a byte-size flag (--mem, --tc-size) that accepts 16M, 64MiB,
// 1G, 1048576 and refuses, at parse time and with the range in the message,
// a size the machine cannot use.
type sizeFlag struct {
	n, def        uint32
	min, max, per uint32 // per: the size must be a multiple of it
}

// memSizeFlag is --mem: guest RAM, from 2 MiB up to the VMM region at the
// top of the address space, in whole 4 KiB pages.
func memSizeFlag() *sizeFlag {
	return &sizeFlag{n: vmm.DefaultMemSize, def: vmm.DefaultMemSize, min: 2 << 20, max: vmm.VMMBase, per: 4 << 10}
}

// tcSizeFlag is --tc-size: bt's translation cache (0 = its default).
func tcSizeFlag() *sizeFlag {
	return &sizeFlag{min: translate.MinTCSize, max: translate.MaxTCSize, per: 1}
}

func (f *sizeFlag) String() string {
	if f == nil || f.n == 0 {
		return ""
	}
	return sizeString(f.n)
}

// sizeString writes n in the largest unit that divides it.
func sizeString(n uint32) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}

// Placeholder names the value in help texts.
func (f *sizeFlag) Placeholder() string { return "SIZE" }

func (f *sizeFlag) Set(s string) error {
	n, err := vmm.ParseSize(s)
	if err != nil {
		return fmt.Errorf("bad size %q: want a number with K, M or G (e.g. 64K, 16M, 1G) between %s and %s", s, sizeString(f.min), sizeString(f.max))
	}
	if n < f.min || n > f.max {
		return fmt.Errorf("size %s is outside %s..%s", sizeString(n), sizeString(f.min), sizeString(f.max))
	}
	if f.per > 1 && n%f.per != 0 {
		return fmt.Errorf("size %s is not a multiple of %s", s, sizeString(f.per))
	}
	f.n = n
	return nil
}

// argsFlag is --args, the guest's command line: one that the multiboot
// info block cannot hold whole is refused when parsed, never cut.
type argsFlag string

func (a *argsFlag) String() string { return string(*a) }

// Placeholder names the value in help texts.
func (a *argsFlag) Placeholder() string { return "ARGS" }

func (a *argsFlag) Set(s string) error {
	if err := guest.CheckCmdline(s); err != nil {
		return err
	}
	*a = argsFlag(s)
	return nil
}

// argsVar defines --args on fs.
func argsVar(fs *flag.FlagSet, usage string) *string {
	var a argsFlag
	fs.Var(&a, "args", usage)
	return (*string)(&a)
}
