package experiments

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

// CheckOptions configure a regression check of exit counts against a
// golden file (vmm's golden format).
type CheckOptions struct {
	// Golden is the golden file.
	Golden string
	// Update rewrites the file instead of comparing: every record already
	// in it is re-run (records of strategies unavailable here are kept as
	// they are), and the matrix (Guests × available Strategies at each
	// workload's default arguments, or Args) is added.
	Update bool
	// Guests and Strategies filter the records checked, and choose the
	// matrix added by Update (empty: all).
	Guests, Strategies []string
	// Images are workloads from image files (--image): their records are
	// checked (and with Update, added) under the file's name.
	Images []guest.Workload
	// Args is the command line of the records Update adds (default: each
	// workload's DefaultArgs).
	Args       string
	MemSize    uint32
	InsnBudget uint64
	TimeBudget time.Duration
	Workers    int
	Progress   func(Progress)
}

// CheckReport is what a check found.
type CheckReport struct {
	Checked int              // records run and compared (or written)
	Diffs   []vmm.GoldenDiff // differences, by record
	Skipped []Skip           // records not run here, with the reason
	Errors  []string         // runs that failed outright
	Added   []vmm.GoldenKey  // records new to the file (Update)
	// Stops are the runs that did not end with the guest's own exit
	// (crash, budget, halted) and differ from their record there: each with
	// its reason, PC and instruction, printed whatever the verbosity.
	Stops   []string
	Golden  *vmm.Golden // the file's content after an Update
	Results map[vmm.GoldenKey]*vmm.Result
}

// OK reports whether the check passed: no difference and no error.
func (r *CheckReport) OK() bool { return len(r.Diffs) == 0 && len(r.Errors) == 0 }

// splitStrategy parses a golden strategy "kvm/pvm" into name and flavour.
func splitStrategy(s string) (name, flavour string) {
	name, flavour, _ = strings.Cut(s, "/")
	return name, flavour
}

func contains(list []string, s string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// queuedFlavoured reports whether a flavoured record of k's strategy
// ("kvm/pvm" for "kvm") is already queued.
func queuedFlavoured(queued map[vmm.GoldenKey]bool, k vmm.GoldenKey) bool {
	for q := range queued {
		if q.Guest == k.Guest && q.Args == k.Args && strings.HasPrefix(q.Strategy, k.Strategy+"/") {
			return true
		}
	}
	return false
}

type checkJob struct {
	key  vmm.GoldenKey
	cell Cell
}

// Check runs the golden file's records (and, with Update, the matrix) and
// compares or rewrites. A missing file is an error unless Update is set.
func Check(o CheckOptions) (*CheckReport, error) {
	g, err := vmm.ReadGoldenFile(o.Golden)
	switch {
	case errors.Is(err, os.ErrNotExist) && o.Update:
		g = vmm.NewGolden()
	case err != nil:
		return nil, err
	}
	rep := &CheckReport{Results: map[vmm.GoldenKey]*vmm.Result{}}
	var jobs []checkJob
	queued := map[vmm.GoldenKey]bool{}
	for _, k := range g.Keys() {
		name, _ := splitStrategy(k.Strategy)
		if !contains(o.Guests, k.Guest) || !contains(o.Strategies, name) {
			continue
		}
		s, err := vmm.LookupStrategy(name)
		if err != nil {
			rep.Skipped = append(rep.Skipped, Skip{k.Guest, k.Args, k.Strategy, "strategy not in this build"})
			continue
		}
		if err := s.Available(); err != nil {
			rep.Skipped = append(rep.Skipped, Skip{k.Guest, k.Args, k.Strategy, "strategy unavailable: " + err.Error()})
			continue
		}
		w, ok := FindImage(o.Images, k.Guest)
		if !ok {
			if w, err = guest.Lookup(k.Guest); err != nil {
				return nil, fmt.Errorf("golden %s: record %s (an image file's record needs --image FILE): %w", o.Golden, k, err)
			}
		}
		c := Cell{Workload: w, Args: k.Args, Strategy: s, Image: "native"}
		if s.PV {
			c.Image = "pv"
			if len(w.PVImage) == 0 {
				rep.Skipped = append(rep.Skipped, Skip{k.Guest, k.Args, k.Strategy, "no paravirtual image of " + w.Name})
				continue
			}
		}
		jobs = append(jobs, checkJob{k, c})
		queued[k] = true
	}
	if o.Update {
		cells, err := Plan(Options{Guests: o.Guests, Images: o.Images, Strategies: o.Strategies, Args: o.Args})
		if err != nil {
			return nil, err
		}
		for _, c := range cells {
			if c.Skip != "" {
				continue
			}
			k := vmm.GoldenKey{Guest: c.Workload.Name, Args: c.Args, Strategy: c.Strategy.Name}
			if queued[k] || queuedFlavoured(queued, k) {
				continue
			}
			// A flavoured strategy's key is only known after the run.
			jobs = append(jobs, checkJob{k, c})
			queued[k] = true
		}
	}

	mo := Options{MemSize: o.MemSize, InsnBudget: o.InsnBudget, TimeBudget: o.TimeBudget}
	results := make([]*vmm.Result, len(jobs))
	errs := make([]error, len(jobs))
	workers := o.Workers
	if workers <= 0 {
		workers = 2
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	ch := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				results[i], errs[i] = CountCell(mo, jobs[i].cell, false)
				mu.Lock()
				done++
				p := Progress{"check", done, len(jobs), fmt.Sprintf("%s %q under %s", jobs[i].key.Guest, jobs[i].key.Args, jobs[i].key.Strategy)}
				mu.Unlock()
				if o.Progress != nil {
					o.Progress(p)
				}
			}
		}()
	}
	for i := range jobs {
		ch <- i
	}
	close(ch)
	wg.Wait()

	for i, j := range jobs {
		if errs[i] != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", j.key, errs[i]))
			continue
		}
		got := vmm.RecordOf(results[i])
		got.Key.Args = j.key.Args // the key as filed, whatever the run echoes
		want, filed := g.Records[j.key]
		if filed && got.Key.Strategy != j.key.Strategy {
			// A flavoured record (kvm/pvm) on a host of another flavour.
			rep.Skipped = append(rep.Skipped, Skip{j.key.Guest, j.key.Args, j.key.Strategy,
				fmt.Sprintf("recorded under %s, this host runs %s", j.key.Strategy, got.Key.Strategy)})
			if !o.Update {
				continue
			}
			want, filed = g.Records[got.Key]
		}
		rep.Checked++
		rep.Results[got.Key] = results[i]
		if st := results[i].Stop; st.Kind != vmm.StopExit && (!filed || want.Stop != got.Stop) {
			rep.Stops = append(rep.Stops, fmt.Sprintf("%s: %s", got.Key, st))
		}
		if o.Update {
			if _, ok := g.Records[got.Key]; !ok {
				rep.Added = append(rep.Added, got.Key)
			}
			g.Put(got)
			continue
		}
		if !filed {
			continue
		}
		rep.Diffs = append(rep.Diffs, vmm.Compare(want, got)...)
	}
	if o.Update {
		if err := g.WriteFile(o.Golden); err != nil {
			return rep, err
		}
		rep.Golden = g
	}
	return rep, nil
}
