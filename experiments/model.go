package experiments

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
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
	// CPIDerivedFrom names the Adams & Agesen table rows the CPI was
	// derived from (empty: none; see EventCost.DerivedFrom).
	CPIDerivedFrom []string `json:"cpi_derived_from,omitempty"`
	// NestedPaging says whether the machine's hardware assist has nested
	// paging (EPT/NPT): the modeled VT-x column then takes guest page
	// faults without an exit (first-generation VT-x of 2006 had none).
	NestedPaging bool `json:"nested_paging,omitempty"`
	// Events prices events: the first entry matching an event's mechanism
	// and cause (exact cause, then the longest matching prefix pattern
	// such as "io/*", then "*") gives its cycles.
	Events []EventCost `json:"events"`
	// Devices prices the device work of an event by cause (the first
	// matching pattern as for Events), whatever the mechanism: a port
	// access costs the device the same under every strategy, so a modeled
	// ratio below 1× means a strategy really avoided device accesses. The
	// one exception is an in-tc access, which the translation cache
	// answers without any device (bt's read of a constant port).
	Devices []DeviceCost `json:"devices,omitempty"`
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
	// DerivedFrom names the Adams & Agesen nanobenchmark rows (AdamsAgesen:
	// "syscall", "in", ...) whose table cells the figure was taken or
	// derived from; empty when it comes from elsewhere (the paper's text,
	// another publication, an assumption). The literature report holds
	// these entries out of their own rows' cells.
	DerivedFrom []string `json:"derived_from,omitempty"`
	// HeldOut, if set, is the figure used instead when a row in
	// DerivedFrom is held out (itself from other rows or sources).
	HeldOut *HeldOut `json:"held_out,omitempty"`
}

// HeldOut is the replacement figure of an entry whose own row is held out.
type HeldOut struct {
	Cycles      float64  `json:"cycles"`
	Source      string   `json:"source"`
	DerivedFrom []string `json:"derived_from,omitempty"`
}

// DeviceCost prices the device work of one access whose cause matches.
type DeviceCost struct {
	Cause       string   `json:"cause"`
	Cycles      float64  `json:"cycles"`
	Source      string   `json:"source,omitempty"`
	DerivedFrom []string `json:"derived_from,omitempty"`
	HeldOut     *HeldOut `json:"held_out,omitempty"`
}

// CounterCost prices one unit of a strategy counter.
type CounterCost struct {
	Name        string   `json:"name"`
	Cycles      float64  `json:"cycles"`
	Source      string   `json:"source,omitempty"`
	DerivedFrom []string `json:"derived_from,omitempty"`
	HeldOut     *HeldOut `json:"held_out,omitempty"`
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
	// CounterTCInsns is not priced: the TC's share of the instructions
	// executed, reported so guest and TC instructions can be told apart.
	CounterTCInsns = vmm.CounterTCInstructions
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
	for _, d := range p.Devices {
		if d.Cause == "" || d.Cycles < 0 {
			return fmt.Errorf("cost profile %s: bad device entry %+v", p.Name, d)
		}
		if i := strings.IndexByte(d.Cause, '*'); i >= 0 && i != len(d.Cause)-1 {
			return fmt.Errorf("cost profile %s: device cause pattern %q: '*' only at the end", p.Name, d.Cause)
		}
	}
	for _, c := range p.Counters {
		if c.Name == "" || c.Cycles < 0 {
			return fmt.Errorf("cost profile %s: bad counter entry %+v", p.Name, c)
		}
	}
	return p.validateRows()
}

// validateRows checks that every derived_from names a row of the paper's
// table: a misspelt row would silently make an echo a prediction.
func (p *Profile) validateRows() error {
	check := func(what string, rows []string, held *HeldOut) error {
		if held != nil {
			rows = append(append([]string(nil), rows...), held.DerivedFrom...)
		}
		for _, r := range rows {
			if !isPaperRow(r) {
				var names []string
				for _, pr := range AdamsAgesen {
					names = append(names, pr.Name)
				}
				for _, mr := range AdamsAgesenMacro {
					names = append(names, mr.Name)
				}
				return fmt.Errorf("cost profile %s: %s: derived_from %q is no row of Adams & Agesen's table (rows: %s)", p.Name, what, r, strings.Join(names, ", "))
			}
		}
		return nil
	}
	if err := check("cpi", p.CPIDerivedFrom, nil); err != nil {
		return err
	}
	for _, e := range p.Events {
		if err := check(e.Mechanism+" "+e.Cause, e.DerivedFrom, e.HeldOut); err != nil {
			return err
		}
	}
	for _, d := range p.Devices {
		if err := check("device "+d.Cause, d.DerivedFrom, d.HeldOut); err != nil {
			return err
		}
	}
	for _, c := range p.Counters {
		if err := check("counter "+c.Name, c.DerivedFrom, c.HeldOut); err != nil {
			return err
		}
	}
	return nil
}

// isPaperRow reports whether name is a row of the paper's nano- or
// macro-benchmark table.
func isPaperRow(name string) bool {
	for _, pr := range AdamsAgesen {
		if pr.Name == name {
			return true
		}
	}
	for _, mr := range AdamsAgesenMacro {
		if mr.Name == name {
			return true
		}
	}
	return false
}

// Clone returns a deep copy.
func (p *Profile) Clone() *Profile {
	q := *p
	q.Events = append([]EventCost(nil), p.Events...)
	q.Counters = append([]CounterCost(nil), p.Counters...)
	q.Devices = append([]DeviceCost(nil), p.Devices...)
	q.CPIDerivedFrom = append([]string(nil), p.CPIDerivedFrom...)
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
		q.CPI, q.CPISource, q.CPIDerivedFrom = o.CPI, o.CPISource, o.CPIDerivedFrom
	}
	for _, d := range o.Devices {
		replaced := false
		for i := range q.Devices {
			if q.Devices[i].Cause == d.Cause {
				q.Devices[i], replaced = d, true
			}
		}
		if !replaced {
			q.Devices = append(q.Devices, d)
		}
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

// causeMatch says how well pattern matches cause: -1 not at all, the
// prefix length for a "prefix*" pattern, and a length beyond any prefix
// for an exact match.
func causeMatch(pattern, cause string) int {
	switch {
	case pattern == cause:
		return 1 << 30
	case strings.HasSuffix(pattern, "*") && strings.HasPrefix(cause, strings.TrimSuffix(pattern, "*")):
		return len(pattern) - 1
	}
	return -1
}

// eventEntry returns the entry pricing an event of mechanism m and cause.
func (p *Profile) eventEntry(m vmm.Mechanism, cause string) *EventCost {
	mech := m.String()
	var best *EventCost
	bestLen := -1
	for i := range p.Events {
		e := &p.Events[i]
		if e.Mechanism != mech {
			continue
		}
		if l := causeMatch(e.Cause, cause); l > bestLen {
			best, bestLen = e, l
		}
	}
	return best
}

// deviceEntry returns the entry pricing the device work of cause.
func (p *Profile) deviceEntry(cause string) *DeviceCost {
	var best *DeviceCost
	bestLen := -1
	for i := range p.Devices {
		if l := causeMatch(p.Devices[i].Cause, cause); l > bestLen {
			best, bestLen = &p.Devices[i], l
		}
	}
	return best
}

// EventCycles returns the cycles one event of mechanism m and cause costs
// (its device work not included), and whether any entry priced it.
func (p *Profile) EventCycles(m vmm.Mechanism, cause string) (float64, bool) {
	if e := p.eventEntry(m, cause); e != nil {
		return e.Cycles, true
	}
	return 0, false
}

// CounterCycles returns the cycles one unit of counter name costs.
func (p *Profile) CounterCycles(name string) (float64, bool) {
	if c := p.counterEntry(name); c != nil {
		return c.Cycles, true
	}
	return 0, false
}

func (p *Profile) counterEntry(name string) *CounterCost {
	for i := range p.Counters {
		if p.Counters[i].Name == name {
			return &p.Counters[i]
		}
	}
	return nil
}

// HoldOut returns the profile with the figures derived from Adams &
// Agesen row `row` held out: each such entry takes its HeldOut figure
// when it has one; an entry without one stays (a cell it prices is then an
// echo of the table, and the literature report says so).
func (p *Profile) HoldOut(row string) *Profile {
	q := p.Clone()
	swap := func(cycles *float64, src *string, from *[]string, h *HeldOut) {
		if h == nil || !slices.Contains(*from, row) {
			return
		}
		*cycles, *src, *from = h.Cycles, "held out of "+row+": "+h.Source, h.DerivedFrom
	}
	for i := range q.Events {
		e := &q.Events[i]
		swap(&e.Cycles, &e.Source, &e.DerivedFrom, e.HeldOut)
	}
	for i := range q.Devices {
		d := &q.Devices[i]
		swap(&d.Cycles, &d.Source, &d.DerivedFrom, d.HeldOut)
	}
	for i := range q.Counters {
		c := &q.Counters[i]
		swap(&c.Cycles, &c.Source, &c.DerivedFrom, c.HeldOut)
	}
	return q
}

// Modeled is the model's account of one run: cycles split into its terms,
// with every term priced row by row.
type Modeled struct {
	Profile string  `json:"profile"`
	Cycles  float64 `json:"cycles"`
	// Instructions is guest instructions × CPI.
	Instructions float64 `json:"instruction_cycles"`
	// Overhead is the translation's own instructions (bt: instructions the
	// CPU executed beyond the guest's) × CPI; 0 for other strategies.
	Overhead float64 `json:"overhead_instruction_cycles"`
	// Events is Σ events × cost(mechanism, cause): the VMM's (or the
	// hardware's) handling, device work apart.
	Events float64 `json:"event_cycles"`
	// Device is Σ events × device cost(cause), the same for every strategy.
	Device      float64 `json:"device_cycles"`
	Translation float64 `json:"translation_cycles"`
	// Rows prices every term: instructions, overhead instructions, each
	// (cause, mechanism) event row, its device work, each counter.
	Rows []ModeledRow `json:"rows,omitempty"`
	// Unpriced lists event rows and translation counters present in the
	// run that the profile has no entry for (they cost 0 in Cycles).
	Unpriced []string `json:"unpriced,omitempty"`
}

// Terms of a ModeledRow.
const (
	TermInstructions = "instructions"
	TermOverhead     = "overhead-instructions"
	TermEvent        = "event"
	TermDevice       = "device"
	TermCounter      = "counter"
)

// ModeledRow is one priced term.
type ModeledRow struct {
	Term      string  `json:"term"`
	Cause     string  `json:"cause"` // the event's cause, the counter's name, or "" for instructions
	Mechanism string  `json:"mechanism,omitempty"`
	Count     uint64  `json:"count"`
	Each      float64 `json:"cycles_each"`
	Cycles    float64 `json:"cycles"`
	// DerivedFrom: the Adams & Agesen rows the unit cost comes from.
	DerivedFrom []string `json:"derived_from,omitempty"`
}

// Key identifies the row's term across runs.
func (r ModeledRow) Key() string { return r.Term + "|" + r.Cause + "|" + r.Mechanism }

// TranslationCounters are the counters the model looks for in a result.
var TranslationCounters = []string{
	CounterTranslatedInsns, CounterTranslatedBlocks, CounterChainPatches,
	CounterLookupHits, CounterLookupMisses, CounterInvalidations, CounterTCFlushes,
}

// ModelInput is what the model prices: counts only, never a time.
type ModelInput struct {
	// GuestInstructions are the guest program's instructions.
	GuestInstructions uint64
	// OverheadInstructions are instructions the CPU executed beyond the
	// guest's because of the strategy (bt: the translation's own code).
	OverheadInstructions uint64
	Counts               vmm.Counts
	Counters             map[string]uint64
}

// Model prices a run with no overhead instructions (see ModelCounts).
func (p *Profile) Model(instructions uint64, counts vmm.Counts, counters map[string]uint64) Modeled {
	return p.ModelCounts(ModelInput{GuestInstructions: instructions, Counts: counts, Counters: counters})
}

// ModelCounts prices counts:
//
//	cycles = (guest + overhead instructions) × CPI
//	       + Σ events × (cost(mechanism, cause) + device(cause))
//	       + Σ translation counters × cost(counter)
//
// It uses only counts (from the counting pass), never a measured time.
func (p *Profile) ModelCounts(in ModelInput) Modeled {
	m := Modeled{Profile: p.Name}
	add := func(r ModeledRow) {
		r.Cycles = r.Each * float64(r.Count)
		m.Rows = append(m.Rows, r)
	}
	add(ModeledRow{Term: TermInstructions, Count: in.GuestInstructions, Each: p.CPI, DerivedFrom: p.CPIDerivedFrom})
	m.Instructions = float64(in.GuestInstructions) * p.CPI
	if in.OverheadInstructions > 0 {
		add(ModeledRow{Term: TermOverhead, Count: in.OverheadInstructions, Each: p.CPI, DerivedFrom: p.CPIDerivedFrom})
		m.Overhead = float64(in.OverheadInstructions) * p.CPI
	}
	for _, k := range in.Counts.Sorted() {
		n := in.Counts[k]
		e := p.eventEntry(k.Mech, k.Cause)
		row := ModeledRow{Term: TermEvent, Cause: k.Cause, Mechanism: k.Mech.String(), Count: n}
		if e == nil {
			m.Unpriced = append(m.Unpriced, fmt.Sprintf("event %s %s", k.Cause, k.Mech))
		} else {
			row.Each, row.DerivedFrom = e.Cycles, e.DerivedFrom
		}
		add(row)
		m.Events += row.Each * float64(n)
		// An in-TC access is answered by the translation cache itself
		// (translate's inTCPorts): no device sees it.
		if d := p.deviceEntry(k.Cause); d != nil && d.Cycles > 0 && k.Mech != vmm.MechInTC {
			add(ModeledRow{Term: TermDevice, Cause: k.Cause, Mechanism: k.Mech.String(), Count: n, Each: d.Cycles, DerivedFrom: d.DerivedFrom})
			m.Device += d.Cycles * float64(n)
		}
	}
	var names []string
	for name := range in.Counters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := p.counterEntry(name)
		switch {
		case c != nil:
			add(ModeledRow{Term: TermCounter, Cause: name, Count: in.Counters[name], Each: c.Cycles, DerivedFrom: c.DerivedFrom})
			m.Translation += c.Cycles * float64(in.Counters[name])
		case slices.Contains(TranslationCounters, name) && in.Counters[name] > 0:
			m.Unpriced = append(m.Unpriced, "counter "+name)
		}
	}
	m.Cycles = m.Instructions + m.Overhead + m.Events + m.Device + m.Translation
	return m
}

// ModelResult prices a vmm.Result as it stands (its instruction count
// taken as guest instructions).
func (p *Profile) ModelResult(r *vmm.Result) Modeled {
	return p.Model(r.Instructions, r.Counts, r.Counters)
}
