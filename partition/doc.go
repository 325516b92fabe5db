// Package partition runs several VMs on one host at once: partitioning,
// the third property of virtual machines beside encapsulation (package
// vmstate) and equivalence. Each VM has its own engine, RAM, devices and
// strategy; the host shares one CPU among them with a proportional-share
// scheduler, and a VM that misbehaves — crashes, triple-faults, spins
// forever, floods its serial port — ends or exhausts only its own budget:
// every other VM prints and counts exactly what it prints and counts alone.
//
// # The scheduler: stride scheduling
//
// Each VM holds Shares tickets (default 1). Its stride is Stride1/Shares;
// its pass starts at its stride. The scheduler always runs the runnable VM
// with the smallest pass (the lower index on a tie) for one time slice and
// then adds its stride to its pass (Waldspurger and Weihl's stride
// scheduling, 1995). Over any stretch in which a set of VMs stays runnable,
// each gets slices in proportion to its shares, within one slice.
//
// A time slice is measured in guest instructions, not in wall time
// (Host.Slice): the VM runs until its instruction count reaches the next
// multiple of the slice (vmm.Machine.PauseAt), so who runs when is a pure
// function of the host description — the same schedule on every run and
// every machine. A pause costs a VM nothing it could observe: its guest
// time counts blocks, and the machine sets the clock back for the block a
// restart re-enters (see vmm.Machine.PauseAt), so a VM's result under the
// host equals its result alone, which the tests check.
//
// # Isolation
//
// Nothing is shared between VMs but the host's CPU time: each VM is its
// own Unicorn engine with its own guest-physical memory, so a guest can
// name no address outside its RAM; its ports reach its own devices; its
// serial output goes to its own buffer. A VM that stops (exit, crash,
// triple fault, hlt forever) leaves the run queue; a VM that never stops
// is stopped by its own instruction budget (MaxInsns), spent only in its
// own slices. What the others lose to a hostile VM is its share of the
// CPU — never their output or their counts.
package partition
