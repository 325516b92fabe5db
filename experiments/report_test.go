package experiments

import (
	"regexp"
	"strings"
	"testing"
)

// The compare table shows bt's guest instructions (native's count) apart
// from what its CPU executed, translation cache included, and the
// translation's own share; the modeled split names every term.
func TestCompareTableInstructionsApart(t *testing.T) {
	p := mustProfile(t, "p4-2006")
	res := &Results{Profile: p, Config: BenchConfig{Reps: 1}}
	for _, r := range []Run{
		{Guest: "call-ret", Strategy: "native", Substrate: "unicorn", Image: "native", Stop: "exit", Instructions: 1200, GuestInstructions: 1200},
		{Guest: "call-ret", Strategy: "bt", Substrate: "unicorn", Image: "native", Stop: "exit", Instructions: 3000, GuestInstructions: 1200,
			GuestInstructionsFrom: "native", TCInstructions: 2900, OverheadInstructions: 1800},
	} {
		m := p.ModelCounts(r.ModelInput())
		r.Modeled = &m
		res.Runs = append(res.Runs, r)
	}
	res.Ratios()
	out := CompareTable(res, "call-ret")
	rowOf := func(name string) []string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, name+"  ") {
				return strings.Fields(strings.TrimPrefix(l, name))
			}
		}
		t.Fatalf("no row %q:\n%s", name, out)
		return nil
	}
	if got := strings.Join(rowOf("guest instructions"), " "); got != "1200 1200 (native's)" {
		t.Errorf("guest instructions row %q, want native's count under both", got)
	}
	if got := strings.Join(rowOf("instructions executed"), " "); got != "1200 3000 (2900 in the TC)" {
		t.Errorf("instructions executed row %q", got)
	}
	if got := strings.Join(rowOf("translation's own"), " "); got != "— 1800" {
		t.Errorf("translation's own row %q", got)
	}
	// The summary's instructions column is the guest's too, also without
	// native in the results.
	res.Runs = res.Runs[1:]
	if sum := SummaryTable(res); !regexp.MustCompile(`call-ret\s+\S*\s+1200\s`).MatchString(sum) {
		t.Errorf("summary without native lacks bt's guest instructions (1200):\n%s", sum)
	}
	// bt's overhead instructions are priced once, in their own column.
	bt := res.Find("call-ret", "bt").Modeled
	want := strings.Join([]string{FormatCycles(bt.Instructions), FormatCycles(bt.Overhead), FormatCycles(bt.Events),
		FormatCycles(bt.Device), FormatCycles(bt.Translation)}, "|")
	if got := rowOf("modeled: insns|own|events|device|transl"); len(got) != 2 || got[1] != want || bt.Overhead != 1800*p.CPI {
		t.Errorf("modeled split %q, want bt %s (overhead %g cycles)", got, want, bt.Overhead)
	}
}

// A modeled ratio below 1× says, in the compare table as in the summary,
// what work the strategy avoided.
func TestCompareTableBelowOne(t *testing.T) {
	res := fixtureResults(t)
	pv := res.Find("io", "pv")
	pv.Modeled = &Modeled{Profile: "p4-2006", Cycles: 5100, Instructions: 5100} // a console hypercall: no UART polling
	res.Ratios()
	if pv.ModeledRatio == nil || *pv.ModeledRatio >= 1 || !strings.Contains(res.avoided(pv), "device work") {
		t.Fatalf("pv io modeled %v, avoided %q", pv.ModeledRatio, res.avoided(pv))
	}
	want := "modeled below 1× (pv): it avoided work native does (" + res.avoided(pv) + ")"
	if out := CompareTable(res, "io"); !strings.Contains(out, want) {
		t.Errorf("compare table lacks %q:\n%s", want, out)
	}
}
