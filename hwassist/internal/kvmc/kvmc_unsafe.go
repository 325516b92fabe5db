// Package kvmc is the C side of hwassist's tests and benchmarks: a
// reference exit loop written in C against <linux/kvm.h>, and the kernel
// header's own values (ioctl numbers, struct sizes and offsets) for
// checking hwassist's Go mirror of the ABI. hwassist itself uses no cgo;
// only its tests import this package.
package kvmc

/*
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <time.h>
#include <linux/kvm.h>

// kvmc_run_outs is the reference exit loop: KVM_RUN until an exit that is
// not an out to port, retrying on EINTR, counting the outs and timing the
// loop from the first out's exit to the last (CLOCK_MONOTONIC). It does the
// least a VMM can do per exit: check the exit reason, the direction and the
// port. *why receives the exit reason that ended the loop (-errno when
// KVM_RUN failed otherwise).
static long kvmc_run_outs(int fd, void *runp, int port, long max, long long *ns, int *why) {
	struct kvm_run *run = runp;
	struct timespec t0, t1;
	long n = 0;
	*why = 0;
	for (;;) {
		if (n == max) {
			*why = -1;
			break;
		}
		if (ioctl(fd, KVM_RUN, 0) < 0) {
			// EINTR: Go's preemption signal (retry), or a kick from the
			// test's watchdog, which sets immediate_exit (stop).
			if (errno == EINTR && !run->immediate_exit)
				continue;
			*why = -errno;
			break;
		}
		if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT || run->io.port != port) {
			*why = run->exit_reason;
			break;
		}
		if (n == 0)
			clock_gettime(CLOCK_MONOTONIC, &t0);
		n++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ns = n > 1 ? (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec) : 0;
	return n;
}

struct kvmc_value { const char *name; unsigned long long value; };

#define V(x) { #x, (unsigned long long)(x) }
#define OFF(t, f) { "offsetof(" #t "," #f ")", (unsigned long long)offsetof(struct t, f) }
#define SIZE(t) { "sizeof(" #t ")", (unsigned long long)sizeof(struct t) }

static const struct kvmc_value kvmc_values[] = {
	V(KVM_GET_API_VERSION), V(KVM_CREATE_VM), V(KVM_CHECK_EXTENSION), V(KVM_GET_VCPU_MMAP_SIZE),
	V(KVM_CREATE_VCPU), V(KVM_SET_USER_MEMORY_REGION), V(KVM_SET_TSS_ADDR), V(KVM_RUN),
	V(KVM_GET_REGS), V(KVM_SET_REGS), V(KVM_GET_SREGS), V(KVM_SET_SREGS), V(KVM_TRANSLATE),
	V(KVM_INTERRUPT), V(KVM_SET_CPUID2), V(KVM_GET_CPUID2), V(KVM_SET_GUEST_DEBUG),
	V(KVM_GET_VCPU_EVENTS), V(KVM_GET_STATS_FD), V(KVM_ENABLE_CAP),
	V(KVM_EXIT_IO), V(KVM_EXIT_HLT), V(KVM_EXIT_MMIO), V(KVM_EXIT_IRQ_WINDOW_OPEN), V(KVM_EXIT_SHUTDOWN),
	V(KVM_EXIT_FAIL_ENTRY), V(KVM_EXIT_INTR), V(KVM_EXIT_INTERNAL_ERROR), V(KVM_EXIT_DEBUG),
	V(KVM_EXIT_SYSTEM_EVENT), V(KVM_INTERNAL_ERROR_EMULATION),
	V(KVM_GUESTDBG_ENABLE), V(KVM_GUESTDBG_SINGLESTEP), V(KVM_GUESTDBG_USE_SW_BP),
	V(KVM_SYNC_X86_REGS), V(KVM_SYNC_X86_SREGS), V(KVM_SYNC_X86_EVENTS),
	V(KVM_CAP_SYNC_REGS), V(KVM_CAP_IMMEDIATE_EXIT), V(KVM_CAP_BINARY_STATS_FD),
	V(KVM_CAP_EXIT_ON_EMULATION_FAILURE), V(KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
	SIZE(kvm_regs), SIZE(kvm_sregs), SIZE(kvm_segment), SIZE(kvm_dtable), SIZE(kvm_cpuid_entry2),
	SIZE(kvm_guest_debug), SIZE(kvm_vcpu_events), SIZE(kvm_translation), SIZE(kvm_enable_cap),
	SIZE(kvm_userspace_memory_region), SIZE(kvm_stats_header), SIZE(kvm_stats_desc),
	OFF(kvm_run, request_interrupt_window), OFF(kvm_run, immediate_exit), OFF(kvm_run, exit_reason),
	OFF(kvm_run, ready_for_interrupt_injection), OFF(kvm_run, if_flag), OFF(kvm_run, io),
	OFF(kvm_run, io.data_offset), OFF(kvm_run, io.count), OFF(kvm_run, io.port),
	OFF(kvm_run, mmio.data), OFF(kvm_run, mmio.len), OFF(kvm_run, mmio.is_write), OFF(kvm_run, internal.data),
	OFF(kvm_run, debug.arch.pc), OFF(kvm_run, kvm_valid_regs), OFF(kvm_run, kvm_dirty_regs), OFF(kvm_run, s),
	OFF(kvm_sregs, cs), OFF(kvm_sregs, cr0), OFF(kvm_sregs, cr3), OFF(kvm_sregs, cr4),
	OFF(kvm_segment, selector), OFF(kvm_segment, unusable),
	OFF(kvm_vcpu_events, interrupt.shadow), OFF(kvm_sync_regs, sregs), OFF(kvm_sync_regs, events),
	{0, 0},
};

static const struct kvmc_value *kvmc_value_at(int i) { return &kvmc_values[i]; }
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// Values returns <linux/kvm.h>'s ioctl numbers, constants, struct sizes
// ("sizeof(kvm_regs)") and field offsets ("offsetof(kvm_run,io)") by name.
func Values() map[string]uint64 {
	out := map[string]uint64{}
	for i := 0; ; i++ {
		v := C.kvmc_value_at(C.int(i))
		if v.name == nil {
			return out
		}
		out[C.GoString(v.name)] = uint64(v.value)
	}
}

// RunOuts runs the vCPU from C: KVM_RUN in a loop for as long as every
// exit is an out to port (at most max of them), retrying on EINTR. run is
// the vCPU's mmap'd kvm_run. It returns the number of outs and the time
// from the first out's exit to the last one's, and the exit reason that
// ended the loop (-1: max reached). A kick (immediate_exit set, then a
// signal) ends it with an EINTR error.
func RunOuts(vcpuFD int, run []byte, port uint16, max int) (outs int, elapsed time.Duration, why int, err error) {
	if len(run) == 0 {
		return 0, 0, 0, errors.New("kvmc: no kvm_run")
	}
	var ns C.longlong
	var w C.int
	// run is an mmap'd region outside the Go heap: passing its address to
	// C is allowed and it stays mapped for the call.
	n := C.kvmc_run_outs(C.int(vcpuFD), unsafe.Pointer(&run[0]), C.int(port), C.long(max), &ns, &w)
	if w < -1 {
		err = fmt.Errorf("kvmc: KVM_RUN: errno %d", -int(w))
	}
	return int(n), time.Duration(ns), int(w), err
}
