package vmm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The golden exit-count file pins, per (guest, args, strategy), how a run
// ended, its guest instruction count and every event count by cause and
// mechanism. It is plain text so a reviewer can read a diff of it:
//
//	virtsim-golden 1
//	run io "n=100" native
//	  stop exit 0
//	  instructions 1234
//	  event io/out:0x80 machine 100
//
// Lines starting with # are comments. Records are sorted by key and rows by
// cause then mechanism, so a rewrite of unchanged counts is byte-identical.
// `instructions` is omitted when the run did not count (e.g. KVM, whose
// strategy name carries the flavour: "kvm/pvm").

// GoldenHeader is the first line of every golden file.
const GoldenHeader = "virtsim-golden 1"

// GoldenKey names one run.
type GoldenKey struct {
	Guest, Args, Strategy string
}

func (k GoldenKey) String() string {
	return fmt.Sprintf("%s %s %s", k.Guest, strconv.Quote(k.Args), k.Strategy)
}

// GoldenRecord is what a golden file pins for one run.
type GoldenRecord struct {
	Key          GoldenKey
	Stop         StopKind
	Status       uint32
	Instructions uint64
	Counts       Counts
}

// RecordOf extracts the pinned facts from a Result. Results whose counts
// depend on a flavour (KVM) are keyed "strategy/flavour".
func RecordOf(r *Result) GoldenRecord {
	strategy := r.Strategy
	if r.Flavour != "" {
		strategy += "/" + r.Flavour
	}
	return GoldenRecord{
		Key:          GoldenKey{r.Guest, r.Args, strategy},
		Stop:         r.Stop.Kind,
		Status:       r.Stop.Status,
		Instructions: r.Instructions,
		Counts:       r.Counts.Clone(),
	}
}

// Golden is a parsed golden file.
type Golden struct {
	Records map[GoldenKey]GoldenRecord
}

// NewGolden returns an empty golden set.
func NewGolden() *Golden { return &Golden{Records: map[GoldenKey]GoldenRecord{}} }

// Put adds or replaces a record.
func (g *Golden) Put(r GoldenRecord) { g.Records[r.Key] = r }

// Keys returns the record keys in file order.
func (g *Golden) Keys() []GoldenKey {
	keys := make([]GoldenKey, 0, len(g.Records))
	for k := range g.Records {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Guest != b.Guest {
			return a.Guest < b.Guest
		}
		if a.Args != b.Args {
			return a.Args < b.Args
		}
		return a.Strategy < b.Strategy
	})
	return keys
}

func parseStopKind(s string) (StopKind, error) {
	for i, n := range stopNames {
		if n == s {
			return StopKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown stop kind %q", s)
}

// ParseGolden reads a golden file.
func ParseGolden(r io.Reader) (*Golden, error) {
	g := NewGolden()
	sc := bufio.NewScanner(r)
	line := 0
	var cur *GoldenRecord
	flush := func() {
		if cur != nil {
			g.Put(*cur)
			cur = nil
		}
	}
	sawHeader := false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if !sawHeader {
			if text != GoldenHeader {
				return nil, fmt.Errorf("golden: line %d: want header %q, got %q", line, GoldenHeader, text)
			}
			sawHeader = true
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("golden: line %d: %s", line, fmt.Sprintf(format, a...))
		}
		f := strings.Fields(text)
		switch f[0] {
		case "run":
			flush()
			// run GUEST "ARGS" STRATEGY — args is a Go-quoted string that may hold spaces.
			rest := strings.TrimSpace(strings.TrimPrefix(text, "run"))
			sp := strings.IndexByte(rest, ' ')
			if sp < 0 {
				return nil, bad("run wants: run GUEST \"ARGS\" STRATEGY")
			}
			guestName, rest := rest[:sp], strings.TrimSpace(rest[sp:])
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, bad("args must be a quoted string: %v", err)
			}
			args, _ := strconv.Unquote(q)
			strat := strings.TrimSpace(rest[len(q):])
			if strat == "" || strings.ContainsAny(strat, " \t") {
				return nil, bad("run wants one strategy name after the args")
			}
			cur = &GoldenRecord{Key: GoldenKey{guestName, args, strat}, Counts: Counts{}}
			if _, dup := g.Records[cur.Key]; dup {
				return nil, bad("duplicate record %s", cur.Key)
			}
		case "stop", "instructions", "event":
			if cur == nil {
				return nil, bad("%q before any run line", f[0])
			}
			switch f[0] {
			case "stop":
				if len(f) != 3 {
					return nil, bad("stop wants: stop KIND STATUS")
				}
				k, err := parseStopKind(f[1])
				if err != nil {
					return nil, bad("%v", err)
				}
				st, err := strconv.ParseUint(f[2], 10, 32)
				if err != nil {
					return nil, bad("status: %v", err)
				}
				cur.Stop, cur.Status = k, uint32(st)
			case "instructions":
				if len(f) != 2 {
					return nil, bad("instructions wants one number")
				}
				n, err := strconv.ParseUint(f[1], 10, 64)
				if err != nil {
					return nil, bad("instructions: %v", err)
				}
				cur.Instructions = n
			case "event":
				if len(f) != 4 {
					return nil, bad("event wants: event CAUSE MECHANISM COUNT")
				}
				m, err := ParseMechanism(f[2])
				if err != nil {
					return nil, bad("%v", err)
				}
				n, err := strconv.ParseUint(f[3], 10, 64)
				if err != nil {
					return nil, bad("count: %v", err)
				}
				cur.Counts[Key{f[1], m}] = n
			}
		default:
			return nil, bad("unknown directive %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	if !sawHeader {
		return nil, fmt.Errorf("golden: empty file (want header %q)", GoldenHeader)
	}
	flush()
	return g, nil
}

// ReadGoldenFile parses a golden file from disk.
func ReadGoldenFile(path string) (*Golden, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	defer f.Close()
	g, err := ParseGolden(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Write renders the golden set in canonical form.
func (g *Golden) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, GoldenHeader)
	fmt.Fprintln(bw, "# Exit counts pinned by virtsim. Rewrite with `virtsim check --update` or `go test -update`; review the diff.")
	for _, k := range g.Keys() {
		r := g.Records[k]
		fmt.Fprintf(bw, "run %s\n", k)
		fmt.Fprintf(bw, "  stop %s %d\n", r.Stop, r.Status)
		if r.Instructions > 0 {
			fmt.Fprintf(bw, "  instructions %d\n", r.Instructions)
		}
		for _, ck := range r.Counts.Sorted() {
			fmt.Fprintf(bw, "  event %s %s %d\n", ck.Cause, ck.Mech, r.Counts[ck])
		}
	}
	return bw.Flush()
}

// WriteFile writes the golden set to path atomically.
func (g *Golden) WriteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("golden: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("golden: %w", err)
	}
	if err := g.Write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("golden: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("golden: write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// GoldenDiff is one difference between a pinned and an observed record.
type GoldenDiff struct {
	Key       GoldenKey
	What      string // "stop", "instructions", "event CAUSE MECH", "missing run"
	Want, Got string
}

// Compare returns the differences of got from the pinned record want.
func Compare(want, got GoldenRecord) []GoldenDiff {
	var d []GoldenDiff
	add := func(what, w, g string) { d = append(d, GoldenDiff{want.Key, what, w, g}) }
	if want.Stop != got.Stop || want.Status != got.Status {
		add("stop", fmt.Sprintf("%s %d", want.Stop, want.Status), fmt.Sprintf("%s %d", got.Stop, got.Status))
	}
	if want.Instructions != 0 && want.Instructions != got.Instructions {
		add("instructions", fmt.Sprint(want.Instructions), fmt.Sprint(got.Instructions))
	}
	keys := map[Key]bool{}
	for k := range want.Counts {
		keys[k] = true
	}
	for k := range got.Counts {
		keys[k] = true
	}
	all := Counts{}
	for k := range keys {
		all[k] = 0
	}
	for _, k := range all.Sorted() {
		if want.Counts[k] != got.Counts[k] {
			add(fmt.Sprintf("event %s %s", k.Cause, k.Mech), fmt.Sprint(want.Counts[k]), fmt.Sprint(got.Counts[k]))
		}
	}
	return d
}

// FormatDiffs renders differences as an aligned table.
func FormatDiffs(diffs []GoldenDiff) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-40s %-32s %12s %12s\n", "run", "what", "golden", "got")
	for _, d := range diffs {
		fmt.Fprintf(&b, "%-40s %-32s %12s %12s\n", d.Key, d.What, d.Want, d.Got)
	}
	return b.String()
}
