// Package vmstate is a whole virtual machine as a file: the encapsulation
// half of virtualization, which lets a VM be saved, restored, copied and
// moved to another VMM as easily as a document.
//
// # What a VM is
//
// Everything the guest could ever observe, and nothing else:
//
//   - the architectural state of its CPU as the guest sees it: general
//     registers, EIP, EFLAGS (with the guest's own IF and IOPL), CPL, the
//     segment selectors, GDTR, IDTR, LDTR, TR, CR0/CR2/CR3/CR4, the debug
//     registers, the MSRs of the CPU model and the x87 and SSE state (the
//     control, status and tag words, R0-R7, XMM0-7, MXCSR: CPU.FPU; a state
//     saved without it restores the FPU as the machine booted it) (CPU);
//   - guest-physical RAM, byte for byte (ram.bin);
//   - the devices: PIT, PIC pair, UART (with input not yet read and the
//     output written so far), local APIC, I/O APIC, RTC, the keyboard
//     controller, PCI configuration space, port 0x61, the ATA
//     controller and the paravirtual block ring's backend (Devices), and the
//     disk's contents (disk.bin);
//   - the machine's time: guest time is counted in executed blocks, so the
//     clock is state too, as are the interrupt-window flags of the run loop
//     (Machine);
//   - what the run has produced so far: serial output, the exit counts by
//     cause and mechanism, the instruction count (Counts, Legs).
//
// # What a VM is not: caches
//
// A VMM keeps much more than that while it runs: trap-and-emulate's real
// GDT and IDT, shadow page tables, a binary translator's translation cache,
// its chaining and lookup tables, Unicorn's own translated blocks. None of
// it is saved. Each is derived from the guest's state by a pure function —
// the shadow GDT from the guest's GDT, a shadow page table from the guest's
// page tables, a translation from the guest's code — and a VMM already
// rebuilds each of them whenever the guest changes what it was derived from
// (an lgdt, a CR3 load, a store into translated code). Restoring is just
// the biggest such change: the new VMM starts with empty caches and fills
// them on demand. That is why a state saved under one technique can be
// continued under another: bt, trap and native keep the same guest state
// and differ only in their caches.
//
// The price of a cold cache is visible, not hidden: after a restore the
// shadow MMU takes hidden page faults again (pf/hidden) and traces page
// tables anew (pt/write), the translator translates again (bt/ counters).
// CacheCauses names the event causes a rebuild can change; every other
// count after a restore equals an uninterrupted run's.
//
// A state only one technique can hold is refused when it cannot move: a
// paravirtual guest has been rewritten to call its VMM (its image is the PV
// build; the hypercall page and the shared-info page are part of its
// machine), so it moves only to pv, and nothing else moves to pv.
//
// # The format (Version 1)
//
// A directory:
//
//	manifest.json  the State below (format "virtsim-vmstate", version 1)
//	ram.bin        guest-physical RAM, State.RAM.Size bytes
//	disk.bin       the disk's contents, if the VM has a disk
//
// Each blob is named in the manifest with its size and SHA-256; Load checks
// the format name, the version, every field's presence and both sums, and
// reports what is wrong instead of restoring a damaged VM. Device state is
// recorded field by field under the device model's own field names
// (Fields): a field the running program does not know, or one it needs that
// the file lacks, is an error naming it, so a state written by a program
// whose devices have changed is refused rather than misread.
//
// Not carried (no catalogue guest depends on them): the x87/SSE registers,
// the time-stamp counter (Unicorn's is the host's), and an event trace
// recorded before the save.
//
// The segment descriptor caches are not stored: they are reloaded from
// the guest's descriptor tables at restore, as trap-and-emulate itself
// reads them (a guest that rewrote a descriptor after loading a segment
// register and before the cut sees the new descriptor: the one difference
// from hardware, shared with the trap strategy's emulator).
package vmstate
