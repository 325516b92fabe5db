package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtsim/vmm"
)

// ProjectGolden is the project's own golden exit-count file.
const projectGolden = "golden/exits.golden"

// The project's exit counts match its committed golden file (the same
// check `virtsim check` makes in a user's CI). go test -update re-runs
// every record and adds new workloads and strategies.
func TestProjectGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every workload under every strategy")
	}
	rep, err := Check(CheckOptions{Golden: projectGolden, Update: *update})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Skipped {
		t.Logf("skipped %s %q under %s: %s", s.Guest, s.Args, s.Strategy, s.Reason)
	}
	for _, e := range rep.Errors {
		t.Errorf("run failed: %s", e)
	}
	if len(rep.Diffs) > 0 {
		t.Errorf("exit counts differ from %s (if intended: go test ./experiments -run TestProjectGolden -update, and review the diff):\n%s",
			projectGolden, vmm.FormatDiffs(rep.Diffs))
	}
	if rep.Checked == 0 {
		t.Error("no record checked")
	}
	// Every catalogue workload succeeds at its default arguments: a
	// record of a failed run pins a bug (disk under pv once did, booted
	// without its disk).
	g, err := vmm.ReadGoldenFile(projectGolden)
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range g.Records {
		if r.Stop != vmm.StopExit || r.Status != 0 {
			t.Errorf("%s %q under %s is pinned as %s %d, not a successful exit", k.Guest, k.Args, k.Strategy, r.Stop, r.Status)
		}
	}
}

func TestCheckMatchMismatchSkip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.golden")
	if _, err := Check(CheckOptions{Golden: path}); err == nil {
		t.Fatal("missing golden file accepted without --update")
	}
	rep, err := Check(CheckOptions{Golden: path, Update: true, Guests: []string{"io"}, Strategies: []string{"native", "trap", "zz-unavailable"}, Args: "n=30"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 2 || len(rep.Added) != 2 || !rep.OK() {
		t.Fatalf("update: %+v", rep)
	}
	// Matching.
	rep, err = Check(CheckOptions{Golden: path})
	if err != nil || !rep.OK() || rep.Checked != 2 {
		t.Fatalf("match: %+v %v", rep, err)
	}
	// One count changed: the diff names the workload, strategy, cause and
	// mechanism.
	g, err := vmm.ReadGoldenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k := vmm.GoldenKey{Guest: "io", Args: "n=30", Strategy: "trap"}
	r := g.Records[k]
	r.Counts[vmm.Key{Cause: "io/out:0x80", Mech: vmm.MechTrap}] = 31
	g.Put(r)
	// Records this host cannot run are skipped, not failures.
	g.Put(vmm.GoldenRecord{Key: vmm.GoldenKey{Guest: "io", Args: "n=30", Strategy: "kvm/pvm"}, Stop: vmm.StopExit, Counts: vmm.Counts{}})
	g.Put(vmm.GoldenRecord{Key: vmm.GoldenKey{Guest: "io", Args: "n=30", Strategy: "zz-unavailable"}, Stop: vmm.StopExit, Counts: vmm.Counts{}})
	if err := g.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	rep, err = Check(CheckOptions{Golden: path})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Diffs) != 1 || rep.Diffs[0].Key != k || rep.Diffs[0].What != "event io/out:0x80 trap" ||
		rep.Diffs[0].Want != "31" || rep.Diffs[0].Got != "30" {
		t.Fatalf("mismatch: %+v", rep.Diffs)
	}
	if len(rep.Skipped) != 2 {
		t.Errorf("skipped %+v", rep.Skipped)
	}
	for _, s := range rep.Skipped {
		if !strings.Contains(s.Reason, "unavailable") && !strings.Contains(s.Reason, "not in this build") {
			t.Errorf("skip reason %q", s.Reason)
		}
	}
	// Filters: checking only native passes.
	if rep, err := Check(CheckOptions{Golden: path, Strategies: []string{"native"}}); err != nil || !rep.OK() || rep.Checked != 1 {
		t.Errorf("filtered: %+v %v", rep, err)
	}
	// --update repairs the record and keeps the ones it cannot run.
	if _, err := Check(CheckOptions{Golden: path, Update: true, Guests: []string{"io"}, Strategies: []string{"native", "trap"}, Args: "n=30"}); err != nil {
		t.Fatal(err)
	}
	g, err = vmm.ReadGoldenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if g.Records[k].Counts[vmm.Key{Cause: "io/out:0x80", Mech: vmm.MechTrap}] != 30 || len(g.Records) != 4 {
		t.Errorf("after update: %d records, %+v", len(g.Records), g.Records[k])
	}
	if rep, err := Check(CheckOptions{Golden: path}); err != nil || !rep.OK() {
		t.Errorf("after update: %+v %v", rep, err)
	}
	// A record of a workload that does not exist is an error, not a skip.
	if err := os.WriteFile(path, []byte(vmm.GoldenHeader+"\nrun nosuch \"\" native\n  stop exit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(CheckOptions{Golden: path}); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown workload: %v", err)
	}
}
