// Package migrate moves whole VMs: it runs a guest to an instruction
// count and saves it (package vmstate), and continues a saved VM under any
// strategy that can hold it — the same one (save and restore), or another
// (migration between virtualization techniques: a guest started under
// binary translation finishes under trap-and-emulate or on the bare
// machine model).
//
// It works because every strategy keeps the same architectural state of
// the guest: bt, trap and native differ only in what they derive from it
// (vmstate's package comment). The result of a restored run carries its
// legs — the strategy of each stretch and the exits it took — so the cost
// of each technique for the same guest shows side by side in one run.
package migrate
