// Package platform holds the tests of virtsim's PC platform: guests of our
// own (guest/src/platform, embedded by package guest) that read back what
// the firmware leaves a 32-bit SMP kernel — the MP floating pointer and
// configuration table, the BIOS data area, the CMOS clock — and drive the
// local APIC's timer, TPR and IPIs, the I/O APIC's routing of an ISA
// interrupt, and the UART's receive interrupt, with paging off; and
// (userzero) what xv6 needed beyond them: the CRT controller's cursor
// registers, user code at linear address 0, and a system call and a page
// fault taken at CPL 3 through descriptor tables in supervisor-only pages. Each runs
// under QEMU (TCG, `-cpu qemu32`, the RTC at vmm.RTCEpoch, serial input on
// stdin) and under native, trap and bt, and the serial output must match.
//
// The idea they check: a kernel nobody wrote for virtsim finds its
// hardware by tables and registers, not by convention, so the machine model
// must present the same tables and the same register behaviour as the PC
// the kernel was written for, and every strategy must keep it working —
// including memory-mapped devices, which a VMM must trap and emulate
// (their accesses are events with causes of their own: mmio/lapic:EOI).
package platform
