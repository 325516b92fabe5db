package experiments

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJSONRoundTrip(t *testing.T) {
	res := fixtureResults(t)
	var b bytes.Buffer
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, back) {
		t.Error("results.json does not read back equal")
	}
	for _, key := range []string{`"schema_version": 2`, `"provenance"`, `"commit"`, `"unicorn_version"`, `"kvm_flavour": "pvm"`,
		`"measured_label": "own image"`, `"measured_label": "no native on substrate (flavour pvm)"`, `"modeled_ratio"`, `"cost_profile"`, `"traces"`} {
		if !strings.Contains(b.String(), key) {
			t.Errorf("results.json lacks %s", key)
		}
	}
	bad := strings.Replace(b.String(), `"schema_version": 2`, `"schema_version": 1`, 1)
	if _, err := ReadJSON(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "schema_version 1") {
		t.Errorf("schema 1 accepted: %v", err)
	}
}

func TestCSVRoundTrip(t *testing.T) {
	res := fixtureResults(t)
	res.Find("io", "bt").TCInstructions = 5000
	var b bytes.Buffer
	if err := res.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// One row per timing run, every column on every row.
	want := 0
	for _, r := range res.Runs {
		want += len(r.WallNS)
	}
	if len(rows) != want+1 || !reflect.DeepEqual(rows[0], CSVHeader) {
		t.Fatalf("%d rows (want %d + header), header %v", len(rows), want, rows[0])
	}
	for _, row := range rows {
		if len(row) != len(CSVHeader) {
			t.Fatalf("row with %d columns", len(row))
		}
	}
	back, err := ReadCSV(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if back.SchemaVersion != SchemaVersion || back.Provenance.Commit != res.Provenance.Commit || back.Provenance.KVMFlavour != "pvm" ||
		back.Config.Profile != "p4-2006" || back.Config.Reps != 3 || back.Config.TimeBudgetNS != res.Config.TimeBudgetNS {
		t.Errorf("provenance/config: %+v %+v", back.Provenance, back.Config)
	}
	if len(back.Runs) != len(res.Runs) {
		t.Fatalf("%d runs back, want %d", len(back.Runs), len(res.Runs))
	}
	for i := range res.Runs {
		a, b := res.Runs[i], back.Runs[i]
		if a.Guest != b.Guest || a.Args != b.Args || a.Strategy != b.Strategy || a.Flavour != b.Flavour || a.Substrate != b.Substrate ||
			a.Image != b.Image || a.Stop != b.Stop || a.Instructions != b.Instructions || a.TCInstructions != b.TCInstructions || a.Exits != b.Exits || a.Events != b.Events ||
			!reflect.DeepEqual(a.Counts, b.Counts) || !reflect.DeepEqual(a.Counters, b.Counters) || !reflect.DeepEqual(a.WallNS, b.WallNS) ||
			a.Wall != b.Wall || !reflect.DeepEqual(a.MeasuredRatio, b.MeasuredRatio) || a.MeasuredLabel != b.MeasuredLabel ||
			!reflect.DeepEqual(a.ModeledRatio, b.ModeledRatio) || a.ModeledLabel != b.ModeledLabel ||
			a.Modeled.Cycles != b.Modeled.Cycles || a.Modeled.Events != b.Modeled.Events || a.Modeled.Translation != b.Modeled.Translation {
			t.Errorf("run %d differs after the CSV round trip:\n%+v\n%+v", i, a, b)
		}
	}
	// The wall statistics are columns too, and a file written before the
	// columns added within the schema still reads.
	for _, r := range rows[1:] {
		get := func(h string) string { return r[slices.Index(CSVHeader, h)] }
		if get("strategy") == "bt" && get("guest") == "io" && (get("tc_instructions") != "5000" || get("wall_noise") != "") {
			t.Errorf("bt io: tc_instructions %q, wall_noise %q", get("tc_instructions"), get("wall_noise"))
		}
		if get("strategy") == "trap" && get("guest") == "io" && get("wall_ci_low_ns") != "0" {
			t.Errorf("a 95%% interval from 3 runs: %q", get("wall_ci_low_ns"))
		}
		if get("strategy") == "native" && get("guest") == "irq-toggle" && !strings.Contains(get("wall_noise"), "too short") {
			t.Errorf("native irq-toggle's 0.5 ms runs: wall_noise %q", get("wall_noise"))
		}
	}
	var old bytes.Buffer
	ow := csv.NewWriter(&old)
	for _, r := range rows {
		ow.Write(r[:len(CSVHeader)-len(CSVAdded)])
	}
	ow.Flush()
	if back, err := ReadCSV(&old); err != nil || len(back.Runs) != len(res.Runs) {
		t.Errorf("a schema 2 file without the added columns: %v", err)
	}
	bad := strings.Replace(b.String(), "\n2,", "\n7,", 1)
	if _, err := ReadCSV(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "schema_version 7") {
		t.Errorf("schema 7 accepted: %v", err)
	}
	if _, err := ReadCSV(strings.NewReader("guest,args\nio,n=1\n")); err == nil {
		t.Error("CSV without the columns accepted")
	}
}

func TestRatiosAndLabels(t *testing.T) {
	res := fixtureResults(t)
	get := func(g, s string) *Run {
		r := res.Find(g, s)
		if r == nil {
			t.Fatalf("no run %s/%s", g, s)
		}
		return r
	}
	if r := get("io", "native"); r.MeasuredRatio == nil || *r.MeasuredRatio != 1 || *r.ModeledRatio != 1 {
		t.Errorf("native ratio %v %v", r.MeasuredRatio, r.ModeledRatio)
	}
	if r := get("io", "trap"); r.MeasuredRatio == nil || *r.MeasuredRatio < 3.6 || *r.MeasuredRatio > 3.8 || r.MeasuredLabel != "" {
		t.Errorf("trap measured ratio %v (median 4.1ms / 1.1ms) label %q", r.MeasuredRatio, r.MeasuredLabel)
	}
	if r := get("io", "pv"); r.MeasuredLabel != "own image" || r.ModeledLabel != "own image" || r.MeasuredRatio == nil {
		t.Errorf("pv labels %q %q", r.MeasuredLabel, r.ModeledLabel)
	}
	if r := get("io", "kvm"); r.MeasuredRatio != nil || r.MeasuredLabel != "no native on substrate (flavour pvm)" || r.ModeledRatio == nil {
		t.Errorf("kvm: measured %v %q, modeled %v", r.MeasuredRatio, r.MeasuredLabel, r.ModeledRatio)
	}
}

func TestSummarize(t *testing.T) {
	if s := Summarize([]int64{5, 1, 3}); s.N != 3 || s.Median != 3 || s.Min != 1 || s.Max != 5 || s.CILow != 0 || !strings.Contains(s.Noise, "spread") {
		t.Errorf("odd: %+v", s)
	}
	if s := Summarize([]int64{4, 1, 3, 10}); s.N != 4 || s.Median != 3 || s.Min != 1 || s.Max != 10 || s.Spread() != 3 {
		t.Errorf("even: %+v spread %g", s, s.Spread())
	}
	// Enough quiet runs: a bootstrap interval around the median, no noise.
	ms := int64(time.Millisecond)
	s := Summarize([]int64{100 * ms, 101 * ms, 102 * ms, 103 * ms, 104 * ms, 105 * ms, 106 * ms})
	if s.Noise != "" || s.CILow < 100*ms || s.CIHigh > 106*ms || s.CILow > s.Median || s.CIHigh < s.Median {
		t.Errorf("quiet: %+v", s)
	}
	if s2 := Summarize([]int64{106 * ms, 105 * ms, 104 * ms, 103 * ms, 102 * ms, 101 * ms, 100 * ms}); s2 != s {
		t.Errorf("bootstrap not reproducible: %+v vs %+v", s2, s)
	}
	if s := Summarize([]int64{100 * ms, 101 * ms}); !strings.Contains(s.Noise, "only 2") {
		t.Errorf("two runs: %+v", s)
	}
	if s := Summarize([]int64{100, 101, 102}); !strings.Contains(s.Noise, "too short") {
		t.Errorf("short runs: %+v", s)
	}
	if s := Summarize(nil); s != (Stats{}) || s.Spread() != 0 {
		t.Errorf("empty: %+v", s)
	}
}

func TestScaleArgs(t *testing.T) {
	for _, c := range [][3]string{
		{"n=4000", "0.5", "n=2000"},
		{"n=10 x=3", "3", "n=30 x=3"},
		{"n=1", "0.1", "n=1"},
		{"k=5", "2", "k=10"},
		{"n=4000", "1", "n=4000"},
	} {
		var f float64
		switch c[1] {
		case "0.5":
			f = 0.5
		case "3":
			f = 3
		case "0.1":
			f = 0.1
		case "2":
			f = 2
		default:
			f = 1
		}
		if got := ScaleArgs(c[0], f); got != c[2] {
			t.Errorf("ScaleArgs(%q, %g) = %q, want %q", c[0], f, got, c[2])
		}
	}
}

// The measured ratio carries a bootstrap interval once both sides ran
// BootstrapMinN times: it holds the ratio of the medians, is the same on
// every call, and shows in the summary and compare tables and the CSV.
func TestRatioCI(t *testing.T) {
	ms := int64(time.Millisecond)
	cell := []int64{40 * ms, 41 * ms, 44 * ms, 42 * ms, 43 * ms, 45 * ms}
	nat := []int64{10 * ms, 11 * ms, 10 * ms, 12 * ms, 10 * ms}
	lo, hi, ok := RatioCI(cell, nat)
	if !ok || lo > 42.5/10 || hi < 42.5/10 || lo < 40.0/12 || hi > 45.0/10 {
		t.Errorf("interval %g–%g (%v) around 4.25 within the runs' extremes", lo, hi, ok)
	}
	if lo2, hi2, _ := RatioCI(cell, nat); lo2 != lo || hi2 != hi {
		t.Errorf("not reproducible: %g–%g then %g–%g", lo, hi, lo2, hi2)
	}
	if _, _, ok := RatioCI(cell, nat[:4]); ok {
		t.Error("an interval from 4 native runs")
	}
	if lo, hi, ok := RatioCI([]int64{7, 7, 7, 7, 7}, []int64{2, 2, 2, 2, 2}); !ok || lo != 3.5 || hi != 3.5 {
		t.Errorf("constant runs: %g–%g", lo, hi)
	}

	res := fixtureResults(t)
	for _, s := range []string{"native", "trap"} {
		r := res.Find("io", s)
		r.WallNS = map[string][]int64{"native": nat, "trap": cell}[s]
		r.Wall = Summarize(r.WallNS)
	}
	res.Ratios()
	trap := res.Find("io", "trap")
	if len(trap.MeasuredRatioCI) != 2 || trap.MeasuredRatioCI[0] != lo || trap.MeasuredRatioCI[1] != hi {
		t.Fatalf("trap io ratio interval %v, want %g–%g", trap.MeasuredRatioCI, lo, hi)
	}
	if res.Find("io", "bt").MeasuredRatioCI != nil {
		t.Error("bt (3 runs) has an interval")
	}
	want := fmt.Sprintf("ci %.2f–%.2f", lo, hi)
	if sum := SummaryTable(res); !strings.Contains(sum, want) || !strings.Contains(sum, "ci: 95% bootstrap interval") {
		t.Errorf("summary lacks %q:\n%s", want, sum)
	}
	if cmp := CompareTable(res, "io"); !strings.Contains(cmp, fmt.Sprintf("95%% CI %.2f–%.2f", lo, hi)) {
		t.Errorf("compare table lacks the interval:\n%s", cmp)
	}
	var b bytes.Buffer
	if err := res.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ","+fmtFloat(lo)+","+fmtFloat(hi)) {
		t.Error("results.csv lacks the interval")
	}
	// The overhead plot draws it and says so.
	c, err := OverheadChart(res)
	if err != nil {
		t.Fatal(err)
	}
	if svg, err := c.SVG(); err != nil || !strings.Contains(string(svg), "thick: 95% CI") {
		t.Errorf("the overhead plot does not name the interval (%v)", err)
	}
}
