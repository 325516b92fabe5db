package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtsim/experiments"
	"virtsim/vmm/unicorn"
)

// virtsim version (and --version) names the linked libunicorn and says the
// binding accepts it; list and every results set's provenance name it too.
func TestVersionCommand(t *testing.T) {
	status, out, errOut := run(t, "version")
	if status != exitOK {
		t.Fatalf("status %d, stderr:\n%s", status, errOut)
	}
	for _, want := range []string{"virtsim ", "go1.", "libunicorn  " + unicorn.Version() + " (", "binding written for " + unicorn.BindingVersion, "kvm", "host"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	if st2, out2, _ := run(t, "--version"); st2 != status || out2 != out {
		t.Errorf("--version (status %d) differs from version:\n%s", st2, out2)
	}
	if st, _, _ := run(t, "version", "extra"); st != exitUsage {
		t.Errorf("version with an argument: status %d, want %d", st, exitUsage)
	}
	_, out, _ = run(t, "list")
	named := false
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "native" && f[1] == "unicorn" && f[2] == unicorn.Version() {
			named = true
		}
	}
	if !named {
		t.Errorf("list does not name the libunicorn version for native:\n%s", out)
	}
	if p := experiments.CollectProvenance("test"); p.UnicornVersion != unicorn.Version() {
		t.Errorf("provenance names libunicorn %q, linked is %q", p.UnicornVersion, unicorn.Version())
	}
}

// A single run's JSON carries the same provenance as a results set.
func TestRunJSONProvenance(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.json")
	if status, _, errOut := run(t, "run", "--guest", "hello", "--json", p, "--quiet", "--no-timing"); status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Provenance experiments.Provenance
		Guest      string
		Events     []json.RawMessage
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if r.Provenance.UnicornVersion != unicorn.Version() || r.Provenance.GoVersion == "" || r.Guest != "hello" || len(r.Events) == 0 ||
		!strings.Contains(r.Provenance.Command, "virtsim run --guest hello") {
		t.Errorf("run JSON: provenance %+v, guest %q, %d events", r.Provenance, r.Guest, len(r.Events))
	}
}
