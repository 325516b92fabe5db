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
//   - a counting pass (vmm.Config.Count): the exact guest instruction count
//     and every event by cause and mechanism, optionally the ordered trace.
//     On the Unicorn strategies these are a pure function of image,
//     arguments, strategy and configuration, so counting passes may run in
//     parallel (Options.Workers, default 2);
//   - timing runs: the same guest with no instrumentation, made strictly one
//     at a time (parallel timings on a 2-core machine measure the neighbour,
//     not the guest), Reps times in rounds that visit every cell once, so a
//     slow drift of the host spreads over all cells instead of biasing one.
//     Each timing run must end as the counting pass did, with identical
//     counts, or the cell reports ErrNotDeterministic. The wall time
//     reported is the median of the runs, with min and max as the spread.
//
// The measured ratio is a cell's median wall time over native's for the same
// workload and arguments on the same substrate. It is labelled where it is
// not like for like: pv runs the workload's paravirtual build ("own image"),
// and kvm has no native on its substrate ("no native on substrate (flavour
// X)"), so its measured time stands alone. A strategy whose Available()
// fails is skipped with its reason, and so is a PV strategy on a workload
// without a PV image; strategies that register later (bt, pv, kvm) appear in
// every command without changes here.
//
// Measured times are virtsim's own times: the guest runs on Unicorn's
// TCG, so a "trap" exit costs what virtsim's machine model and the
// trap-and-emulate VMM cost on this host, not what the hardware of 2006 did.
//
// # What is modelled
//
// The cost model prices the counts of a counting pass with a cost profile:
//
//	cycles = guest instructions × CPI
//	       + Σ over (cause, mechanism) rows  count × cost(mechanism, cause)
//	       + Σ over translation counters      count × cost(counter)
//
// cost(mechanism, cause) is the profile's entry for that mechanism with the
// exact cause, else the longest matching prefix pattern ("io/*"), else "*".
// In-place mechanisms (in-tc, shared-info) are events, not exits, and are
// priced like any other; "machine" events (the hardware model delivered
// them, as under native) are priced as the hardware's own delivery cost.
// Rows the profile does not price count 0 and are listed as unpriced.
//
// The translation counters consumed, by Result.Counters name, are
// bt/insns, bt/blocks, bt/chain-patches, bt/lookup-hits,
// bt/lookup-misses, bt/invalidations and bt/flushes (see the Counter*
// constants).
// The binary translator reports them; a strategy that reports none has a
// zero translation term. Every other counter (KVM's in-kernel statistics,
// io-imprecise, audit/...) is reported beside the exits and never priced.
//
// Two profiles are built in (profiles/*.json, every entry with its source):
//
//   - p4-2006: the Pentium 4 figures of Adams & Agesen, "A Comparison of
//     Software and Hardware Techniques for x86 Virtualization" (ASPLOS 2006,
//     raw-data appendix): VM entry 2409 cycles and page-fault VM exit 1931
//     (kernel exits = their sum), rdtsc by trap-and-emulate 2030 (trap),
//     by callout 1254 (callout), in the TC 216 (in-tc), native cli 60
//     (reference), the translator ~2300 cycles per guest instruction, and
//     the nanobenchmarks' native and software/hardware-VMM costs of system
//     calls, I/O, exceptions and cr8 writes;
//   - modern (the default): the paper's Core 2 column for VM transitions
//     (entry 937, page-fault exit 1186), a current KVM_RUN round trip to
//     user space (~2530 cycles, AMD, LKML 2020) for vmexit, and the P4
//     software-VMM figures scaled by the Core 2 / P4 ratio of transition
//     costs (0.49), marked as estimates.
//
// A JSON file in the same format (--cost FILE) overrides any entry; one
// with "base" starts from that built-in profile. `virtsim calibrate` writes
// such a file from this host's own measured costs (see Calibrate).
//
// Note on I/O: both profiles price a native port access as real ISA
// hardware (~1 µs), while a VMM exit for I/O emulates the device without
// touching hardware. The model can therefore find a VMM cheaper than native
// on I/O-bound workloads, as Adams & Agesen measured for `in` under binary
// translation (216 vs 3209 cycles).
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
// bench writes results.json (Results, schema_version 1, documented on the
// type), results.csv (one row per timing run, every parameter a column;
// CSVHeader), and the plots exits, overhead, breakdown and cumulative as
// SVG and PNG. Each results set carries its Provenance: commit, Go and
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
