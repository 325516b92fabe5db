// Package experiments turns virtsim runs into numbers a researcher can
// publish and a CI pipeline can gate on: the benchmark matrix (workloads ×
// strategies × repetitions), the cost model, results files with their
// provenance, plots, the regression check of exit counts against a golden
// file, host calibration, and the Adams & Agesen literature preset. The
// commands compare, bench, check and calibrate of cmd/virtsim are thin
// wrappers around it.
//
// # What is measured
//
// Every cell of a matrix (one workload, its arguments, one strategy) is run
// in two kinds of pass, never mixed:
//
//   - a counting pass (vmm.Config.Count): the exact instruction count and
//     every event by cause and mechanism, optionally the ordered trace.
//     On the Unicorn strategies these are a pure function of image,
//     arguments, strategy and configuration, so counting passes may run in
//     parallel (Options.Workers, default 2);
//   - timing runs: the same guest with no instrumentation, made strictly one
//     at a time (parallel timings on a 2-core machine measure the neighbour,
//     not the guest), Reps times in rounds that visit every cell once, so a
//     slow drift of the host spreads over all cells instead of biasing one.
//     Each timing run must end as the counting pass did, with identical
//     counts, or the cell reports ErrNotDeterministic.
//
// Instructions mean one thing per field. Run.Instructions is what the
// strategy's CPU executed for the guest; Run.GuestInstructions is the guest
// program's own count. They differ under bt, whose count includes the
// translation cache's code (translate reports that share as bt/tc-insns):
// there the guest instructions are native's count of the same image and
// arguments (guest_instructions_from "native", as for kvm, which counts
// none), and the difference is OverheadInstructions, the translation's
// own code (return lookups, in-TC emulation), which the model prices once.
//
// # Statistics
//
// A measured figure is the median of the timing runs with their range and,
// from BootstrapMinN runs on, a 95% percentile-bootstrap interval of the
// median (fixed seed: the same runs give the same interval). Stats.Noise
// says why a figure is not to be trusted: the runs spread by more than
// NoiseSpread (25%) of the median, fewer than NoiseMinN ran, or they are
// shorter than NoiseMinWall. Tables mark such cells with "!", the measured
// overhead plot draws the range as whiskers and the noisy ones in red. The
// measured ratio is a cell's median over native's for the same workload
// and arguments on the same substrate; its range is the cell's fastest
// over native's slowest to the cell's slowest over native's fastest, and,
// when both ran BootstrapMinN times, its 95% bootstrap interval (RatioCI,
// Run.MeasuredRatioCI). It is labelled where it is not like for like: pv runs the workload's paravirtual build ("own image"), and
// kvm has no native on its substrate ("no native on substrate (flavour
// X)"), so its measured time stands alone. A strategy whose Available()
// fails is skipped with its reason, and so is a PV strategy on a workload
// without a PV image (an --image file has none).
//
// Measured times are virtsim's own times: the guest runs on Unicorn's
// TCG, so a "trap" exit costs what virtsim's machine model and the
// trap-and-emulate VMM cost on this host, not what the hardware of 2006 did.
//
// # What is modelled
//
// The cost model prices the counts of a counting pass with a cost profile
// of primitives:
//
//	cycles = (guest instructions + overhead instructions) × CPI
//	       + Σ over (cause, mechanism) rows  count × cost(mechanism, cause)
//	       + Σ over events                   count × device(cause)
//	       + Σ over translation counters      count × cost(counter)
//
// cost(mechanism, cause) is the profile's entry for that mechanism with the
// exact cause, else the longest matching prefix pattern ("io/*"), else "*".
// device(cause) is the device work of the access (a port access's own
// latency), charged the same under every strategy, so a modeled ratio
// below 1× means the strategy really avoided work native does, and the
// summary says which. In-TC events cost their TC instructions (counted as
// overhead instructions) and nothing more; "machine" events (the hardware
// model delivered them, as under native) are priced as the hardware's own
// delivery cost. Rows the profile does not price count 0 and are listed.
// Modeled.Rows holds every term (instructions, overhead, each event row,
// its device work, each counter) with the table rows its unit cost came
// from.
//
// The translation counters consumed, by Result.Counters name, are
// bt/insns, bt/blocks, bt/chain-patches, bt/lookup-hits,
// bt/lookup-misses, bt/invalidations and bt/flushes (see the Counter*
// constants). Every other counter (KVM's in-kernel statistics,
// io-imprecise, bt/tc-insns, audit/...) is reported and never priced.
//
// Two profiles are built in (profiles/*.json). Every entry names its
// source, and derived_from names the rows of Adams & Agesen's
// nanobenchmark table (AdamsAgesen) it was taken from, if any; such an
// entry may carry a held_out figure from other rows or sources:
//
//   - p4-2006: the Pentium 4 as primitives — trap-and-emulate 2030,
//     callout 1254 and translator 2300 cycles per instruction from the
//     paper's text, VM exit + entry 4340 (1931 + 2409, text) and the
//     VMM's handling of an exit 910 (a trap-and-emulate less the P4's
//     int/iret round trip it contains: 2030 - 1120), an ISA port
//     access ~1 µs (Linux's io_delay), a return lookup as one branch
//     misprediction (Prescott's 31-stage pipeline), CPI 1 (assumption);
//     native int, exception, interrupt and #PF delivery and a hypercall's
//     ring crossing 1120 cycles (the P4's int $0x80/iret round trip over
//     sysenter/sysexit's: getppid 1761 against 641 cycles, Torvalds,
//     linux-kernel, 16 Dec 2002); a sysenter/sysexit pair 420 cycles
//     (getpid through sysenter 432 against 12 as a call under Kernel Mode
//     Linux, Linux Journal 2003); nothing comes from the table;
//   - modern (the default): the paper's Core 2 VM transitions (937 +
//     1186), a current KVM_RUN round trip to user space (~2530 cycles,
//     LKML 2020), nested paging, and the P4 software-VMM figures scaled by
//     the Core 2 / P4 ratio of transition costs (0.49), marked estimates.
//
// A JSON file in the same format (--cost FILE) overrides any entry; one
// with "base" starts from that built-in profile. `virtsim calibrate` writes
// such a file from this host's own measured costs (see Calibrate): only
// the designated instruction probe (compute) gives the cost of an
// instruction, a probe that causes no events under a strategy measures
// nothing there, and every entry it did not measure says "NOT MEASURED on
// this host" in its source.
//
// # The literature report
//
// bench --suite adams-agesen counts the paper's nanobenchmarks at two
// iteration counts (SuiteN; both passes are kept in results.json) and
// prices the difference per operation. Each cell is computed with
// Profile.HoldOut(row): the figures derived from the cell's own row are
// replaced by their held-out figures. A cell priced only by figures from
// outside the paper's table is a prediction; one that uses a figure of
// another row (a held-out figure, say) is borrowed; one that still uses a
// figure of its own row is an echo. p4-2006 takes no figure from the table
// (its int, exception and #PF delivery is the P4's int/iret round trip
// Torvalds measured on linux-kernel in 2002; trap, callout, translator and
// VM exit costs are the paper's text figures), so with it every cell is a
// prediction. FormatLiterature prints every cell's count × unit breakdown,
// where the model disagrees with the paper by more than 2× or names
// another winner, and for each such row why (PaperRow.Mismatch: where
// virtsim's operation differs from what the paper measured, such as a
// cli/sti pair standing in for a cr8 write). The syscall row runs the
// sysenter workload: the paper's fast system call, not int $0x80. The columns are native,
// bt, VT-x (kvm, only on hardware assist: vmx or svm), PVM (kvm on PVM,
// software virtualization, its own column), VT-x (modeled: native's counts
// classified by hwassist/vtx's decision table and priced with VM exit
// costs), trap and pv. The winner compares bt with the measured VT-x
// column when there is one, else the modeled one.
//
// A kvm run on hardware assist sees only the exits that reach virtsim;
// what the CPU did in guest mode (int, iret, sysenter, #DE, with nested
// paging every #PF, CR3 load and invlpg) and the exits KVM handled itself
// leave no event. So the VT-x (kvm) cells and the bench table's kvm
// modeled figure price HWInput: the causes the kvm run counted as
// measured, every other cause from native's counts classified by
// hwassist/vtx with the run's own nested paging (hwassist's
// kvm-nested-paging counter). The column holds any hardware assist; when
// it is not plain VT-x (AMD-V, or AMD-V emulated by QEMU's TCG in the rig
// scripts/kvm-nested.sh) the report says so (LitCell.Source).
//
// The suite also runs the paper's macro-benchmark forkwait
// (AdamsAgesenMacro, at n = SuiteN/10): MacroReport prices a fork/wait
// round the same way and FormatMacro compares slowdowns (a column over its
// native), since a toy kernel's round is far cheaper than Linux's.
//
// # Why measured and modelled are never mixed
//
// They answer different questions. The measured figure is what virtsim
// costs on this host, an emulator included; the modelled figure is what the
// same counts would cost on the machine a profile describes. A ratio of a
// measured time to a modelled cycle count, or a model "corrected" by a
// measurement, would be a number of no machine at all. So every result
// carries both, side by side in separate fields (wall*, measured_* vs
// modeled*), tables print them on separate rows, plots in separate
// panels, and the model never reads a wall time. The one bridge is
// explicit: calibrate turns measurements into a profile, which is then
// used as a model like any other.
//
// # Results
//
// bench writes results.json (Results, schema_version 2, documented on the
// type; a suite's other passes in "passes"), results.csv (one row per timing run, every parameter a column;
// CSVHeader), and the plots exits, overhead, breakdown and cumulative as
// SVG and PNG. `--json -` writes results (run, compare) to stdout, and
// --image runs a user's multiboot kernel in compare, bench, check and
// tui. Each results set carries its Provenance: commit (stamped by the
// Makefile, else the build's VCS information, else git in the source
// directory — never the current directory's repository), Go and
// Unicorn versions, host CPU and kernel, KVM flavour (from the "kvm-flavour"
// hook, see RegisterProvenance, or from kvm results), date, command line and
// configuration.
//
// # Regression check
//
// Check runs every record of a golden file (vmm's format: stop, guest
// instructions and events by cause and mechanism per guest, arguments and
// strategy) and compares exactly; records of flavoured strategies are keyed
// "kvm/<flavour>", and a record this host cannot run (strategy unavailable
// or unknown, other KVM flavour, no PV image) is reported as skipped, not
// failed. With Update it re-runs the file's records and adds every
// workload × available strategy at default arguments, keeping records it
// cannot run. The project's own file is golden/exits.golden, checked by
// TestProjectGolden (so `make test` checks it); README.md beside this file
// shows how to add the check to a CI pipeline.
package experiments
