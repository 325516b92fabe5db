package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"virtsim/experiments"
	"virtsim/hwassist"
	"virtsim/vmm/unicorn"
)

// cmdVersion prints what virtsim is made of: its commit, Go, the linked
// libunicorn (and whether the binding accepts it), KVM's flavour on this
// host, and the host. The same facts go into every results set's
// provenance. Exits 69 when the linked libunicorn is not the one the
// binding was written for.
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "", stdout, stderr)
	if done, st := parseFlags(fs, args); done {
		return st
	}
	p := experiments.CollectProvenance("virtsim version")
	check := unicorn.CheckVersion()
	uc := fmt.Sprintf("%s (static, from .deps/unicorn; binding written for %s)", p.UnicornVersion, unicorn.BindingVersion)
	if check != nil {
		uc = fmt.Sprintf("%s (NOT USABLE: %v)", p.UnicornVersion, check)
	}
	kvm := p.KVMFlavour
	if kvm == "" {
		kvm = "unavailable: " + hwassist.HostFlavour().Why
	} else {
		kvm += ": " + hwassist.HostFlavour().Describe()
	}
	fmt.Fprintf(stdout, "virtsim %s\n", p.Commit)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  go\t%s\n", p.GoVersion)
	fmt.Fprintf(tw, "  libunicorn\t%s\n", uc)
	fmt.Fprintf(tw, "  kvm\t%s\n", kvm)
	fmt.Fprintf(tw, "  host\t%s, %d CPUs, %s\n", p.HostCPU, p.HostCPUs, p.Kernel)
	tw.Flush()
	if check != nil {
		return exitUnavailable
	}
	return exitOK
}

// substrateLabel is a strategy's substrate as `virtsim list` shows it: the
// Unicorn strategies name the linked library's version.
func substrateLabel(substrate string) string {
	if substrate == "unicorn" {
		return "unicorn " + unicorn.Version()
	}
	return substrate
}

// needsUnicorn reports whether a command runs guests (and so needs a
// usable libunicorn at start-up): everything but help, version and list,
// which say what is wrong instead.
func needsUnicorn(cmd string) bool {
	switch cmd {
	case "version", "list", "disk-image":
		return false
	}
	return true
}
