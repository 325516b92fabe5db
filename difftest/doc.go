// Package difftest is virtsim's differential tester: the same guest runs
// under QEMU (TCG, -cpu qemu32: the external oracle) and under every
// Unicorn strategy, and what each prints and how it ends must agree.
//
// Why: a VMM that is only tested on the guests its authors wrote is tested
// on one way of writing a kernel. A trap-and-emulate VMM must handle
// descriptor tables without Accessed bits, gates of every DPL, user-mode
// I/O the guest's TSS allows, int n through a gate the caller may not use —
// whatever a CPU handles. The tester finds where a strategy is not the CPU.
//
// Two kinds of guest:
//   - the corpus (corpus/*.S): hand-written kernels in other styles than
//     virtsim's runtime (guest/src/lib), each printing what it observed;
//   - random instruction streams (Stream) from a seed, in families, each
//     ending with a dump of its registers, flags and a memory checksum.
//
// A difference is a bug, or a documented one: Known (and README.md) lists
// each with its reason — the Popek–Goldberg holes of ring compression, the
// places QEMU's TCG is not the SDM. A documented difference that stops
// occurring fails the tests too, so the table stays true.
package difftest
