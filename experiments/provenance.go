package experiments

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"virtsim/vmm/unicorn"
)

// Provenance says where a result came from, so a number in a paper can be
// traced to the code and machine that produced it.
type Provenance struct {
	// Commit is the virtsim commit: the Makefile's stamp (BuildCommit),
	// the build's VCS stamp, or git in the source directory (go run, go
	// test), suffixed "+dirty" when the work tree had changes; "unknown"
	// when none is available.
	Commit         string `json:"commit"`
	GoVersion      string `json:"go_version"`
	UnicornVersion string `json:"unicorn_version"`
	HostCPU        string `json:"host_cpu"`
	HostCPUs       int    `json:"host_cpus"`
	Kernel         string `json:"kernel"`
	// KVMFlavour is what KVM is underneath ("vmx", "svm", "pvm"), from the
	// "kvm-flavour" provenance hook or from kvm results; empty if none.
	KVMFlavour string `json:"kvm_flavour,omitempty"`
	// Date is when the run started (RFC 3339, UTC).
	Date string `json:"date"`
	// Command is the command line that produced the results.
	Command string `json:"command,omitempty"`
	// Extra holds what registered provenance hooks reported, by name.
	Extra map[string]string `json:"extra,omitempty"`
}

var (
	hooksMu sync.Mutex
	hooks   = map[string]func() (string, error){}
)

// RegisterProvenance adds a hook whose answer goes into every result's
// provenance under name. The KVM strategy's flavour detection is wired
// here by name "kvm-flavour" — from cmd/virtsim, which links the strategy
// packages, so no strategy package has to import experiments:
//
//	experiments.RegisterProvenance("kvm-flavour", hwassist.Flavour)
//
// A hook that fails records "unavailable: <error>".
func RegisterProvenance(name string, fn func() (string, error)) {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	hooks[name] = fn
}

// CollectProvenance gathers the provenance of this process and host.
func CollectProvenance(command string) Provenance {
	p := Provenance{
		Commit:         commit(),
		GoVersion:      runtime.Version(),
		UnicornVersion: unicorn.Version(),
		HostCPU:        cpuModel(),
		HostCPUs:       runtime.NumCPU(),
		Kernel:         kernel(),
		Date:           time.Now().UTC().Format(time.RFC3339),
		Command:        command,
	}
	hooksMu.Lock()
	names := make([]string, 0, len(hooks))
	for n := range hooks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v, err := hooks[n]()
		if err != nil {
			v = "unavailable: " + err.Error()
		}
		if n == "kvm-flavour" {
			if err == nil {
				p.KVMFlavour = v
			}
			continue
		}
		if p.Extra == nil {
			p.Extra = map[string]string{}
		}
		p.Extra[n] = v
	}
	hooksMu.Unlock()
	return p
}

// BuildCommit is the commit the binary was built from, stamped by the
// Makefile (-ldflags "-X virtsim/experiments.BuildCommit=..."), with
// "+dirty" when the work tree had changes. Empty in an unstamped build.
var BuildCommit string

// commit finds the virtsim commit: the stamp, else the build's VCS
// information, else git run in the directory this source file was compiled
// from (go run, go test, a build with VCS stamping off). It never asks git
// about the current directory, which may be some other repository.
func commit() string {
	if BuildCommit != "" {
		return BuildCommit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if modified == "true" {
				rev += "+dirty"
			}
			return rev
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if c := gitCommit(filepath.Dir(file)); c != "" {
			return c
		}
	}
	return "unknown"
}

// gitCommit is HEAD of the repository holding dir, "+dirty" when tracked
// files changed, or "" when dir is in no repository git can read.
func gitCommit(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "+dirty"
	}
	return c
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH + " (model unknown)"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH + " (model unknown)"
}

// HostMHz is the clock /proc/cpuinfo reports for the first CPU, or 0.
func HostMHz() float64 {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			var mhz float64
			if _, err := fmt.Sscan(strings.TrimSpace(v), &mhz); err == nil {
				return mhz
			}
		}
	}
	return 0
}

func kernel() string {
	if out, err := exec.Command("uname", "-srvm").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/version"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return runtime.GOOS
}
