package experiments

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"virtsim/vmm"
)

// Profile is a cost table for the model: what one guest instruction, one
// event of a mechanism and cause, and one unit of a translation counter cost
// in cycles on some machine. Profiles are data: the built-in ones live in
// profiles/*.json (embedded), and a JSON file in the same format overrides
// any entry (Override).
type Profile struct {
	// Name identifies the profile in results ("p4-2006", "modern", "host").
	Name string `json:"name"`
	// Base names the built-in profile an override file starts from (empty
	// in the built-in files and in a complete file).
	Base        string `json:"base,omitempty"`
	Description string `json:"description,omitempty"`
	// ClockGHz is the clock the cycle figures refer to (for converting
	// modeled cycles to modeled time; never used to correct measurements).
	ClockGHz float64 `json:"clock_ghz,omitempty"`
	// CPI is cycles per guest instruction when the instruction runs
	// natively (no VMM involvement).
	CPI       float64 `json:"cpi"`
	CPISource string  `json:"cpi_source,omitempty"`
	// Events prices events: the first entry matching an event's mechanism
	// and cause (exact cause, then the longest matching prefix pattern
	// such as "io/*", then "*") gives its cycles.
	Events []EventCost `json:"events"`
	// Counters prices strategy counters (translation work). Counters the
	// profile does not name cost nothing and are reported as unpriced.
	Counters []CounterCost `json:"counters,omitempty"`
	// Reference holds published figures the model does not use directly
	// but reports beside its own (e.g. native cli, VM entry), by name.
	Reference []Figure `json:"reference,omitempty"`
	// Sources lists the publications and measurements the figures come from.
	Sources []string `json:"sources,omitempty"`
}

// EventCost prices events of one mechanism whose cause matches Cause: an
// exact cause ("io/out:0x80"), a prefix pattern ending in '*' ("io/*"), or
// "*" for every cause.
type EventCost struct {
	Mechanism string  `json:"mechanism"`
	Cause     string  `json:"cause"`
	Cycles    float64 `json:"cycles"`
	Source    string  `json:"source,omitempty"`
}

// CounterCost prices one unit of a strategy counter.
type CounterCost struct {
	Name   string  `json:"name"`
	Cycles float64 `json:"cycles"`
	Source string  `json:"source,omitempty"`
}

// Figure is a published number kept for reference.
type Figure struct {
	Name   string  `json:"name"`
	Cycles float64 `json:"cycles"`
	Source string  `json:"source,omitempty"`
}

// Translation counters the model consumes (Result.Counters names). The
// binary translator reports them; when a strategy reports none of them the
// translation term is zero. Other counters (KVM's in-kernel statistics,
// io-imprecise, audit/...) are never priced: they are reported beside the
// exits, not added into them.
const (
	CounterTranslatedInsns  = "bt/insns"         // guest instructions translated into the TC
	CounterTranslatedBlocks = "bt/blocks"        // translation units (basic blocks) made
	CounterChainPatches     = "bt/chain-patches" // exit stubs patched into direct jumps
	CounterLookupHits       = "bt/lookup-hits"   // indirect-branch lookups satisfied in the TC
	CounterLookupMisses     = "bt/lookup-misses" // lookups that left the TC for the translator
	CounterInvalidations    = "bt/invalidations" // translations dropped because their guest page was written
	CounterTCFlushes        = "bt/flushes"       // whole-TC flushes (TC full)
)

//go:embed profiles/*.json
var profileFiles embed.FS

// BuiltinProfiles returns the built-in profiles, sorted by name.
func BuiltinProfiles() ([]*Profile, error) {
	ents, err := profileFiles.ReadDir("profiles")
	if err != nil {
		return nil, fmt.Errorf("experiments: built-in profiles: %w", err)
	}
	var out []*Profile
	for _, e := range ents {
		b, err := profileFiles.ReadFile("profiles/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("experiments: built-in profile %s: %w", e.Name(), err)
		}
		p, err := ParseProfile(b)
		if err != nil {
			return nil, fmt.Errorf("experiments: built-in profile %s: %w", e.Name(), err)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DefaultProfile is the profile used when none is named.
const DefaultProfile = "modern"

// LookupProfile returns a built-in profile by name.
func LookupProfile(name string) (*Profile, error) {
	all, err := BuiltinProfiles()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range all {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("experiments: unknown cost profile %q (built in: %s)", name, strings.Join(names, ", "))
}

// ParseProfile decodes a profile (or an override) from JSON, rejecting
// unknown fields and unknown mechanisms so a typo cannot silently price
// nothing.
func ParseProfile(b []byte) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("cost profile: %w", err)
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		return nil, errors.New("cost profile: trailing data after the JSON object")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks mechanisms, patterns and signs.
func (p *Profile) Validate() error {
	if p.CPI < 0 {
		return fmt.Errorf("cost profile %s: negative cpi %g", p.Name, p.CPI)
	}
	seen := map[[2]string]bool{}
	for _, e := range p.Events {
		if _, err := vmm.ParseMechanism(e.Mechanism); err != nil {
			return fmt.Errorf("cost profile %s: %w", p.Name, err)
		}
		if e.Cause == "" {
			return fmt.Errorf("cost profile %s: %s entry without a cause (use \"*\" for every cause)", p.Name, e.Mechanism)
		}
		if i := strings.IndexByte(e.Cause, '*'); i >= 0 && i != len(e.Cause)-1 {
			return fmt.Errorf("cost profile %s: cause pattern %q: '*' only at the end", p.Name, e.Cause)
		}
		if e.Cycles < 0 {
			return fmt.Errorf("cost profile %s: %s %s: negative cycles", p.Name, e.Mechanism, e.Cause)
		}
		k := [2]string{e.Mechanism, e.Cause}
		if seen[k] {
			return fmt.Errorf("cost profile %s: %s %s priced twice", p.Name, e.Mechanism, e.Cause)
		}
		seen[k] = true
	}
	for _, c := range p.Counters {
		if c.Name == "" || c.Cycles < 0 {
			return fmt.Errorf("cost profile %s: bad counter entry %+v", p.Name, c)
		}
	}
	return nil
}

// Clone returns a deep copy.
func (p *Profile) Clone() *Profile {
	q := *p
	q.Events = append([]EventCost(nil), p.Events...)
	q.Counters = append([]CounterCost(nil), p.Counters...)
	q.Reference = append([]Figure(nil), p.Reference...)
	q.Sources = append([]string(nil), p.Sources...)
	return &q
}

// Override returns p with every entry of o applied: o's events replace
// entries of p with the same mechanism and cause (others are added), its
// counters replace same-named counters, and its non-zero scalars (cpi,
// clock) replace p's. The result is named after o when o has a name.
func (p *Profile) Override(o *Profile) *Profile {
	q := p.Clone()
	if o.Name != "" {
		q.Name = o.Name
	}
	if o.Description != "" {
		q.Description = o.Description
	}
	q.Base = ""
	if o.CPI > 0 {
		q.CPI, q.CPISource = o.CPI, o.CPISource
	}
	if o.ClockGHz > 0 {
		q.ClockGHz = o.ClockGHz
	}
	for _, e := range o.Events {
		replaced := false
		for i := range q.Events {
			if q.Events[i].Mechanism == e.Mechanism && q.Events[i].Cause == e.Cause {
				q.Events[i], replaced = e, true
			}
		}
		if !replaced {
			q.Events = append(q.Events, e)
		}
	}
	for _, c := range o.Counters {
		replaced := false
		for i := range q.Counters {
			if q.Counters[i].Name == c.Name {
				q.Counters[i], replaced = c, true
			}
		}
		if !replaced {
			q.Counters = append(q.Counters, c)
		}
	}
	for _, f := range o.Reference {
		replaced := false
		for i := range q.Reference {
			if q.Reference[i].Name == f.Name {
				q.Reference[i], replaced = f, true
			}
		}
		if !replaced {
			q.Reference = append(q.Reference, f)
		}
	}
	q.Sources = append(q.Sources, o.Sources...)
	return q
}

// LoadProfile resolves the profile a command uses: the built-in named
// base, overridden by the JSON file at path if path is set. A file that
// names its own base ("base": "p4-2006") starts from that one instead.
func LoadProfile(base, path string) (*Profile, error) {
	if base == "" {
		base = DefaultProfile
	}
	if path == "" {
		return LookupProfile(base)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cost file: %w", err)
	}
	o, err := ParseProfile(b)
	if err != nil {
		return nil, fmt.Errorf("cost file %s: %w", path, err)
	}
	if o.Base != "" {
		base = o.Base
	}
	p, err := LookupProfile(base)
	if err != nil {
		return nil, fmt.Errorf("cost file %s: %w", path, err)
	}
	return p.Override(o), nil
}

// MarshalIndent renders the profile as the JSON a cost file holds.
func (p *Profile) MarshalIndent() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cost profile %s: %w", p.Name, err)
	}
	return append(b, '\n'), nil
}

// EventCycles returns the cycles one event of mechanism m and cause costs,
// and whether any entry priced it.
func (p *Profile) EventCycles(m vmm.Mechanism, cause string) (float64, bool) {
	mech := m.String()
	best, bestLen, found := 0.0, -1, false
	for _, e := range p.Events {
		if e.Mechanism != mech {
			continue
		}
		var l int
		switch {
		case e.Cause == cause:
			return e.Cycles, true
		case strings.HasSuffix(e.Cause, "*") && strings.HasPrefix(cause, strings.TrimSuffix(e.Cause, "*")):
			l = len(e.Cause) - 1
		default:
			continue
		}
		if l > bestLen {
			best, bestLen, found = e.Cycles, l, true
		}
	}
	return best, found
}

// CounterCycles returns the cycles one unit of counter name costs.
func (p *Profile) CounterCycles(name string) (float64, bool) {
	for _, c := range p.Counters {
		if c.Name == name {
			return c.Cycles, true
		}
	}
	return 0, false
}

// Modeled is the model's account of one run: cycles split into its three
// terms, with every event row priced.
type Modeled struct {
	Profile      string  `json:"profile"`
	Cycles       float64 `json:"cycles"`
	Instructions float64 `json:"instruction_cycles"`
	Events       float64 `json:"event_cycles"`
	Translation  float64 `json:"translation_cycles"`
	// Rows prices every (cause, mechanism) row of the run.
	Rows []ModeledRow `json:"rows,omitempty"`
	// Unpriced lists event rows and translation counters present in the
	// run that the profile has no entry for (they cost 0 in Cycles).
	Unpriced []string `json:"unpriced,omitempty"`
}

// ModeledRow is one priced row.
type ModeledRow struct {
	Cause     string  `json:"cause"`
	Mechanism string  `json:"mechanism"`
	Count     uint64  `json:"count"`
	Each      float64 `json:"cycles_each"`
	Cycles    float64 `json:"cycles"`
}

// TranslationCounters are the counters the model looks for in a result.
var TranslationCounters = []string{
	CounterTranslatedInsns, CounterTranslatedBlocks, CounterChainPatches,
	CounterLookupHits, CounterLookupMisses, CounterInvalidations, CounterTCFlushes,
}

// Model prices a run: cycles = instructions × CPI + Σ events × cost(mechanism,
// cause) + Σ translation counters × cost(counter). It uses only counts
// (from the counting pass), never a measured time.
func (p *Profile) Model(instructions uint64, counts vmm.Counts, counters map[string]uint64) Modeled {
	m := Modeled{Profile: p.Name}
	m.Instructions = float64(instructions) * p.CPI
	for _, k := range counts.Sorted() {
		n := counts[k]
		each, ok := p.EventCycles(k.Mech, k.Cause)
		if !ok {
			m.Unpriced = append(m.Unpriced, fmt.Sprintf("event %s %s", k.Cause, k.Mech))
		}
		row := ModeledRow{k.Cause, k.Mech.String(), n, each, each * float64(n)}
		m.Rows = append(m.Rows, row)
		m.Events += row.Cycles
	}
	var names []string
	for name := range counters {
		names = append(names, name)
	}
	sort.Strings(names)
	known := map[string]bool{}
	for _, c := range TranslationCounters {
		known[c] = true
	}
	for _, name := range names {
		each, ok := p.CounterCycles(name)
		switch {
		case ok:
			m.Translation += each * float64(counters[name])
		case known[name] && counters[name] > 0:
			m.Unpriced = append(m.Unpriced, "counter "+name)
		}
	}
	m.Cycles = m.Instructions + m.Events + m.Translation
	return m
}

// ModelResult prices a vmm.Result.
func (p *Profile) ModelResult(r *vmm.Result) Modeled {
	return p.Model(r.Instructions, r.Counts, r.Counters)
}
