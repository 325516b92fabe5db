package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"strings"
	"time"

	"virtsim/experiments"
	"virtsim/vmm"
)

// listFlag is a comma-separated list flag (--guests a,b).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Placeholder names the value in help texts.
func (l *listFlag) Placeholder() string { return "LIST" }

func (l *listFlag) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}

// matrixFlags are the flags every experiments command shares.
type matrixFlags struct {
	strategies listFlag
	mem        *sizeFlag
	maxInsns   uint64
	timeout    time.Duration
	profile    string
	costFile   string
	quiet      bool
}

func addMatrixFlags(fs *flag.FlagSet, withCost bool) *matrixFlags {
	m := &matrixFlags{mem: memSizeFlag()}
	fs.Var(&m.strategies, "strategies", "comma-separated strategies (default: every registered one; unavailable ones are skipped with their reason)")
	fs.Var(m.mem, "mem", "guest RAM size, 2M to 4080M in whole 4K pages")
	fs.Uint64Var(&m.maxInsns, "max-insns", vmm.DefaultInsnBudget, "instruction budget per run")
	fs.DurationVar(&m.timeout, "timeout", vmm.DefaultTimeBudget, "time budget per run")
	fs.BoolVar(&m.quiet, "quiet", false, "no progress output")
	if withCost {
		fs.StringVar(&m.profile, "profile", experiments.DefaultProfile, "built-in cost profile: p4-2006 or modern")
		fs.StringVar(&m.costFile, "cost", "", "cost file (JSON, as written by 'virtsim calibrate') overriding entries of --profile")
		fs.StringVar(&m.costFile, "costs", "", "same as --cost")
	}
	return m
}

func (m *matrixFlags) loadProfile() (*experiments.Profile, error) {
	p, err := experiments.LoadProfile(m.profile, m.costFile)
	if err != nil {
		return nil, fmt.Errorf("cost model: %w", err)
	}
	return p, nil
}

func (m *matrixFlags) options(cmd string, stderr interface{ Write([]byte) (int, error) }) experiments.Options {
	return experiments.Options{
		Strategies: m.strategies, MemSize: m.mem.n, InsnBudget: m.maxInsns, TimeBudget: m.timeout,
		Workers: 2, Progress: newProgress(cmd, stderr, m.quiet),
	}
}

func (m *matrixFlags) config(o experiments.Options, p *experiments.Profile) experiments.BenchConfig {
	c := experiments.BenchConfig{
		Guests: o.Guests, Strategies: o.Strategies, Args: o.Args, Scale: o.Scale, Reps: o.Reps, Workers: o.Workers,
		MemBytes: m.mem.n, InsnBudget: m.maxInsns, TimeBudgetNS: m.timeout.Nanoseconds(),
		CostFile: m.costFile, TraceGuest: o.TraceGuest, UntilOutput: o.UntilOutput,
	}
	for _, w := range o.Images {
		c.Images = append(c.Images, experiments.ImageRef{Name: w.Name, Path: w.Source, SHA256: sha256Hex(w.Image)})
	}
	if p != nil {
		c.Profile = p.Name
	}
	return c
}

// runStatus maps the runs of a results set to virtsim's exit status: a
// non-deterministic run is a failed check, any other error internal, a
// guest that did not exit with 0 its stop status.
func runStatus(res *experiments.Results) int {
	st := exitOK
	for _, r := range res.Runs {
		switch {
		case strings.Contains(r.Error, experiments.ErrNotDeterministic.Error()):
			return exitMismatch
		case r.Error != "":
			st = exitInternal
		case st == exitOK && r.Stop != "exit":
			switch r.Stop {
			case "halted":
				st = exitHalted
			case "budget":
				st = exitBudget
			default:
				st = exitCrash
			}
		case st == exitOK && r.Status != 0:
			st = int(r.Status & 0xFF)
		}
	}
	return st
}

// sha256Hex is the hex SHA-256 of data: how results.json pins an image or
// an input file's content.
func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
