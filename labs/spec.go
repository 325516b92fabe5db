package labs

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"virtsim/guest"
	"virtsim/translate"
	"virtsim/vmm"
)

// Spec says how a question's answer is computed from a run: "= KIND
// STRATEGY GUEST ARGS MORE..." (ARGS "-" is the workload's default command
// line; per-iter takes two iteration counts instead; translation has no
// strategy: it is bt's).
type Spec struct {
	Kind                  string
	Strategy, Guest, Args string
	More                  []string
	kind                  *kind
}

// kind is one way of computing an answer.
type kind struct {
	name, usage string
	more        int // how many MORE words (-1: one or two)
	noStrategy  bool
	eval        func(r *Runner, s Spec) (string, error)
}

// kinds is the table of answer kinds.
var kinds = []*kind{
	{"serial", "serial STRATEGY GUEST ARGS /REGEXP/ — the regexp's first group in the guest's output", 1, false, evalSerial},
	{"count", "count STRATEGY GUEST ARGS CAUSE [MECHANISM] — how many events of the cause", -1, false, evalCount},
	{"mech", "mech STRATEGY GUEST ARGS CAUSE — the mechanism(s) that handled the cause", 1, false, evalMech},
	{"exits", "exits STRATEGY GUEST ARGS — exits in the whole run", 0, false, evalExits},
	{"per-iter", "per-iter STRATEGY GUEST N1 N2 WHAT — what one more iteration costs: (WHAT at n=N2 − at n=N1)/(N2−N1); WHAT is exits, events, a cause or counter:NAME", 2, false, evalPerIter},
	{"counter", "counter STRATEGY GUEST ARGS NAME — a strategy's counter (bt/lookup-hits, audit/sens/pushf, ...)", 1, false, evalCounter},
	{"top", "top STRATEGY GUEST ARGS PREFIX — the largest counter under PREFIX, the prefix removed (audit/ counters run with --audit)", 1, false, evalTop},
	{"exit-causes", "exit-causes STRATEGY GUEST ARGS — the causes that made exits, as a list", 0, false, evalExitCauses},
	{"translation", "translation GUEST ARGS INSN — the first instruction bt's translation of INSN starts with", 1, true, evalTranslation},
}

// Kinds lists the answer kinds' usages (for lab authors).
func Kinds() []string {
	var out []string
	for _, k := range kinds {
		out = append(out, k.usage)
	}
	return out
}

// ParseSpec reads the text after "= ".
func ParseSpec(text string) (Spec, error) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return Spec{}, errors.New("empty answer line")
	}
	var k *kind
	for _, c := range kinds {
		if c.name == f[0] {
			k = c
		}
	}
	if k == nil {
		return Spec{}, fmt.Errorf("unknown answer kind %q (kinds: %s)", f[0], kindNames())
	}
	s := Spec{Kind: k.name, kind: k}
	rest := f[1:]
	head := 3
	if k.noStrategy {
		head = 2
	}
	if k.name == "per-iter" {
		head = 2
	}
	if len(rest) < head {
		return Spec{}, fmt.Errorf("too few words: %s", k.usage)
	}
	if k.noStrategy {
		s.Strategy, s.Guest, s.Args = "bt", rest[0], rest[1]
	} else if k.name == "per-iter" {
		s.Strategy, s.Guest = rest[0], rest[1]
	} else {
		s.Strategy, s.Guest, s.Args = rest[0], rest[1], rest[2]
	}
	s.More = rest[head:]
	switch {
	case k.name == "per-iter" && len(s.More) != 3:
		return Spec{}, fmt.Errorf("per-iter wants two iteration counts and what to count: %s", k.usage)
	case k.more == -1 && (len(s.More) < 1 || len(s.More) > 2):
		return Spec{}, fmt.Errorf("wrong number of words: %s", k.usage)
	case k.more >= 0 && k.name != "per-iter" && len(s.More) != k.more:
		return Spec{}, fmt.Errorf("wrong number of words: %s", k.usage)
	}
	sname, _, _, err := strategyFlags(s.Strategy)
	if err != nil {
		return Spec{}, err
	}
	if _, err := vmm.LookupStrategy(sname); err != nil {
		return Spec{}, err
	}
	if _, err := guest.Lookup(s.Guest); err != nil {
		return Spec{}, err
	}
	if k.name == "serial" {
		re := s.More[0]
		if len(re) < 3 || re[0] != '/' || re[len(re)-1] != '/' {
			return Spec{}, fmt.Errorf("serial wants /REGEXP/ (no spaces; use \\s), got %q", re)
		}
		c, err := regexp.Compile(re[1 : len(re)-1])
		if err != nil {
			return Spec{}, fmt.Errorf("serial: %w", err)
		}
		if c.NumSubexp() < 1 {
			return Spec{}, fmt.Errorf("serial: %s has no (group) to answer with", re)
		}
	}
	if k.name == "per-iter" {
		for _, n := range s.More[:2] {
			if _, err := strconv.ParseUint(n, 10, 32); err != nil {
				return Spec{}, fmt.Errorf("per-iter: %q is not an iteration count", n)
			}
		}
	}
	return s, nil
}

func kindNames() string {
	var n []string
	for _, k := range kinds {
		n = append(n, k.name)
	}
	return strings.Join(n, ", ")
}

// String is the spec as written.
func (s Spec) String() string {
	var f []string
	switch {
	case s.kind != nil && s.kind.noStrategy:
		f = []string{s.Kind, s.Guest, s.Args}
	case s.Kind == "per-iter":
		f = []string{s.Kind, s.Strategy, s.Guest}
	default:
		f = []string{s.Kind, s.Strategy, s.Guest, s.Args}
	}
	return strings.Join(append(f, s.More...), " ")
}

// strategyFlags splits a question's STRATEGY into the strategy and its
// run flags: "trap+classic-if" is trap run with --classic-if.
func strategyFlags(strategy string) (name string, cfg vmm.Config, flags string, err error) {
	name, mods, _ := strings.Cut(strategy, "+")
	for _, m := range strings.Split(mods, "+") {
		switch m {
		case "":
		case "classic-if":
			cfg.ClassicIF = true
		default:
			return "", cfg, "", fmt.Errorf("strategy %q: unknown modifier %q (known: classic-if)", strategy, m)
		}
		if m != "" {
			flags += " --" + m
		}
	}
	return name, cfg, flags, nil
}

// Command is the virtsim command line a student runs to see the answer.
func (s Spec) Command() string {
	args := ""
	if s.Args != "-" && s.Args != "" {
		args = fmt.Sprintf(" --args %q", s.Args)
	}
	if name, _, flags, err := strategyFlags(s.Strategy); err == nil {
		s.Strategy = name
		args += flags
	}
	switch {
	case s.Kind == "translation":
		return fmt.Sprintf("virtsim translate --guest %s%s", s.Guest, args)
	case s.Kind == "per-iter":
		return fmt.Sprintf("virtsim run --guest %s --strategy %s --args n=%s  (and n=%s)", s.Guest, s.Strategy, s.More[0], s.More[1])
	case s.Kind == "top" && strings.HasPrefix(s.More[0], "audit/"), s.Kind == "counter" && strings.HasPrefix(s.More[0], "audit/"):
		return fmt.Sprintf("virtsim run --guest %s --strategy %s%s --audit", s.Guest, s.Strategy, args)
	}
	return fmt.Sprintf("virtsim run --guest %s --strategy %s%s", s.Guest, s.Strategy, args)
}

// ErrUnavailable wraps the reason a question cannot be checked here.
var ErrUnavailable = errors.New("cannot be checked on this machine")

// Runner runs guests for answers, each configuration once.
type Runner struct {
	cache map[string]*vmm.Result
	// Runs counts the guest runs made (for tests).
	Runs int
}

// NewRunner makes a runner with an empty cache.
func NewRunner() *Runner { return &Runner{cache: map[string]*vmm.Result{}} }

// Eval computes a question's answer by running the simulator.
func (r *Runner) Eval(s Spec) (string, error) {
	if s.kind == nil {
		p, err := ParseSpec(s.String())
		if err != nil {
			return "", err
		}
		s = p
	}
	return s.kind.eval(r, s)
}

// run runs one configuration (cached).
func (r *Runner) run(strategy, name, args string, audit bool) (*vmm.Result, error) {
	key := fmt.Sprintf("%s|%s|%s|%v", strategy, name, args, audit)
	if res, ok := r.cache[key]; ok {
		return res, nil
	}
	sname, cfg, _, err := strategyFlags(strategy)
	if err != nil {
		return nil, err
	}
	s, err := vmm.LookupStrategy(sname)
	if err != nil {
		return nil, err
	}
	if err := s.Available(); err != nil {
		return nil, fmt.Errorf("%w: strategy %s: %v", ErrUnavailable, s.Name, err)
	}
	w, err := guest.Lookup(name)
	if err != nil {
		return nil, err
	}
	if args == "-" || args == "" {
		args = w.DefaultArgs
	}
	img, err := w.LoadFor(s.PV, vmm.DefaultMemSize)
	if err != nil {
		return nil, err
	}
	r.Runs++
	cfg.Name, cfg.Args, cfg.Audit = w.Name, args, audit
	res, err := vmm.RunGuest(s, img, cfg, false)
	if err != nil {
		return nil, fmt.Errorf("%s under %s: %w", name, strategy, err)
	}
	if res.Stop.Kind != vmm.StopExit {
		return nil, fmt.Errorf("%s under %s did not exit: %s", name, strategy, res.Stop)
	}
	r.cache[key] = res
	return res, nil
}

func (r *Runner) result(s Spec) (*vmm.Result, error) {
	audit := len(s.More) > 0 && strings.HasPrefix(s.More[len(s.More)-1], "audit/")
	return r.run(s.Strategy, s.Guest, s.Args, audit)
}

func evalSerial(r *Runner, s Spec) (string, error) {
	res, err := r.result(s)
	if err != nil {
		return "", err
	}
	re := regexp.MustCompile(s.More[0][1 : len(s.More[0])-1])
	m := re.FindStringSubmatch(res.Serial)
	if m == nil {
		return "", fmt.Errorf("%s under %s printed nothing matching %s", s.Guest, s.Strategy, s.More[0])
	}
	return m[1], nil
}

// countOf sums the events of a cause (of one mechanism, if mech != "").
func countOf(res *vmm.Result, cause, mech string) uint64 {
	var n uint64
	for k, c := range res.Counts {
		if k.Cause == cause && (mech == "" || k.Mech.String() == mech) {
			n += c
		}
	}
	return n
}

func evalCount(r *Runner, s Spec) (string, error) {
	res, err := r.result(s)
	if err != nil {
		return "", err
	}
	mech := ""
	if len(s.More) == 2 {
		mech = s.More[1]
	}
	return fmt.Sprint(countOf(res, s.More[0], mech)), nil
}

func evalMech(r *Runner, s Spec) (string, error) {
	res, err := r.result(s)
	if err != nil {
		return "", err
	}
	var mechs []string
	for k := range res.Counts {
		if k.Cause == s.More[0] {
			mechs = append(mechs, k.Mech.String())
		}
	}
	if len(mechs) == 0 {
		return "", fmt.Errorf("%s under %s has no %s events", s.Guest, s.Strategy, s.More[0])
	}
	sort.Strings(mechs)
	return strings.Join(mechs, ", "), nil
}

func evalExits(r *Runner, s Spec) (string, error) {
	res, err := r.result(s)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(res.Exits), nil
}

func evalPerIter(r *Runner, s Spec) (string, error) {
	n1, _ := strconv.ParseUint(s.More[0], 10, 32)
	n2, _ := strconv.ParseUint(s.More[1], 10, 32)
	what := s.More[2]
	value := func(n uint64) (float64, error) {
		audit := strings.HasPrefix(what, "counter:audit/")
		res, err := r.run(s.Strategy, s.Guest, fmt.Sprintf("n=%d", n), audit)
		if err != nil {
			return 0, err
		}
		switch {
		case what == "exits":
			return float64(res.Exits), nil
		case what == "events":
			return float64(res.Counts.Total()), nil
		case strings.HasPrefix(what, "counter:"):
			return float64(res.Counters[strings.TrimPrefix(what, "counter:")]), nil
		}
		return float64(countOf(res, what, "")), nil
	}
	a, err := value(n1)
	if err != nil {
		return "", err
	}
	b, err := value(n2)
	if err != nil {
		return "", err
	}
	return strconv.FormatFloat((b-a)/float64(n2-n1), 'f', -1, 64), nil
}

func evalCounter(r *Runner, s Spec) (string, error) {
	res, err := r.result(s)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(res.Counters[s.More[0]]), nil
}

func evalTop(r *Runner, s Spec) (string, error) {
	res, err := r.result(s)
	if err != nil {
		return "", err
	}
	best, bestN := "", uint64(0)
	var names []string
	for k := range res.Counters {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if strings.HasPrefix(k, s.More[0]) && res.Counters[k] > bestN {
			best, bestN = strings.TrimPrefix(k, s.More[0]), res.Counters[k]
		}
	}
	if best == "" {
		return "", fmt.Errorf("%s under %s has no counter under %s", s.Guest, s.Strategy, s.More[0])
	}
	return best, nil
}

func evalExitCauses(r *Runner, s Spec) (string, error) {
	res, err := r.result(s)
	if err != nil {
		return "", err
	}
	set := map[string]bool{}
	for k, n := range res.Counts {
		if k.Mech.IsExit() && n > 0 {
			set[k.Cause] = true
		}
	}
	var out []string
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return strings.Join(out, ", "), nil
}

// evalTranslation runs the guest under bt keeping every block and returns
// the first translated instruction made of the guest instruction INSN (its
// text as the listing shows it, e.g. "cli").
func evalTranslation(r *Runner, s Spec) (string, error) {
	w, err := guest.Lookup(s.Guest)
	if err != nil {
		return "", err
	}
	args := s.Args
	if args == "-" || args == "" {
		args = w.DefaultArgs
	}
	img, err := w.Load(vmm.DefaultMemSize)
	if err != nil {
		return "", err
	}
	b, err := translate.NewBT(img, vmm.Config{Name: w.Name, Args: args})
	if err != nil {
		return "", err
	}
	defer b.Close()
	b.KeepHistory()
	r.Runs++
	if _, err := b.Run(); err != nil {
		return "", err
	}
	var sb strings.Builder
	if err := b.Listing(&sb); err != nil {
		return "", err
	}
	want := strings.Join(strings.Fields(s.More[0]), " ")
	for _, line := range strings.Split(sb.String(), "\n") {
		left, right, ok := strings.Cut(line, " | ")
		if !ok {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(left), "* "))
		if len(f) < 2 {
			continue
		}
		// f: address, mnemonic, operands..., then the kind of rewrite
		if f[1] == want || (len(f) > 2 && f[1]+" "+f[2] == want) {
			rf := strings.Fields(right)
			if len(rf) < 2 {
				continue
			}
			return strings.Join(rf[1:], " "), nil
		}
	}
	return "", fmt.Errorf("bt never translated %q in %s", want, s.Guest)
}
