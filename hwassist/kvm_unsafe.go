package hwassist

// Every use of package unsafe in hwassist is in this file. Each one hands
// the kernel the address of memory it reads or writes during one ioctl, or
// reads a word of the shared kvm_run page atomically.

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Compile-time checks that the Go mirrors have the kernel's sizes: an
// ioctl copies exactly the size encoded in its number, so a mismatch would
// make the kernel read or write past the Go value.
var (
	_ [sizeofRegs - unsafe.Sizeof(kvmRegs{})]struct{}
	_ [unsafe.Sizeof(kvmRegs{}) - sizeofRegs]struct{}
	_ [sizeofSregs - unsafe.Sizeof(kvmSregs{})]struct{}
	_ [unsafe.Sizeof(kvmSregs{}) - sizeofSregs]struct{}
	_ [sizeofMemoryRegion - unsafe.Sizeof(kvmUserspaceMemoryRegion{})]struct{}
	_ [unsafe.Sizeof(kvmUserspaceMemoryRegion{}) - sizeofMemoryRegion]struct{}
	_ [sizeofGuestDebug - unsafe.Sizeof(kvmGuestDebug{})]struct{}
	_ [unsafe.Sizeof(kvmGuestDebug{}) - sizeofGuestDebug]struct{}
	_ [sizeofVCPUEvents - unsafe.Sizeof(kvmVCPUEvents{})]struct{}
	_ [unsafe.Sizeof(kvmVCPUEvents{}) - sizeofVCPUEvents]struct{}
	_ [sizeofTranslation - unsafe.Sizeof(kvmTranslation{})]struct{}
	_ [unsafe.Sizeof(kvmTranslation{}) - sizeofTranslation]struct{}
	_ [40 - unsafe.Sizeof(kvmCPUIDEntry2{})]struct{}
	_ [unsafe.Sizeof(kvmCPUIDEntry2{}) - 40]struct{}
)

// ioctlPtr issues an ioctl whose argument is a pointer to p.
//
// Safe because: the conversion of p to uintptr happens in the argument
// list of the unix.Syscall call itself, which the compiler recognises
// (unsafe.Pointer rule 4) and keeps p alive and unmoved until the call
// returns; the kernel accesses only the size the request number encodes,
// which the size checks above tie to the Go type p points to; and p is
// never used by the kernel after the ioctl returns.
func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

func getRegs(fd int, r *kvmRegs) error {
	// Safe: r points to a kvmRegs, exactly what KVM_GET_REGS writes.
	_, err := ioctlPtr(fd, kvmGetRegs, unsafe.Pointer(r))
	return err
}

func setRegs(fd int, r *kvmRegs) error {
	// Safe: KVM_SET_REGS reads one kvmRegs from r.
	_, err := ioctlPtr(fd, kvmSetRegs, unsafe.Pointer(r))
	return err
}

func getSregs(fd int, s *kvmSregs) error {
	// Safe: KVM_GET_SREGS writes one kvmSregs to s.
	_, err := ioctlPtr(fd, kvmGetSregs, unsafe.Pointer(s))
	return err
}

func setSregs(fd int, s *kvmSregs) error {
	// Safe: KVM_SET_SREGS reads one kvmSregs from s.
	_, err := ioctlPtr(fd, kvmSetSregs, unsafe.Pointer(s))
	return err
}

func setCPUID2(fd int, c *kvmCPUID2) error {
	// Safe: KVM_SET_CPUID2 reads the 8-byte header, then c.NEnt entries,
	// and NEnt never exceeds len(c.Entries) (buildCPUID checks it).
	if int(c.NEnt) > len(c.Entries) {
		return unix.EINVAL
	}
	_, err := ioctlPtr(fd, kvmSetCPUID2, unsafe.Pointer(c))
	return err
}

func setGuestDebug(fd int, d *kvmGuestDebug) error {
	// Safe: KVM_SET_GUEST_DEBUG reads one kvmGuestDebug from d.
	_, err := ioctlPtr(fd, kvmSetGuestDebug, unsafe.Pointer(d))
	return err
}

func getVCPUEvents(fd int, e *kvmVCPUEvents) error {
	// Safe: KVM_GET_VCPU_EVENTS writes one kvmVCPUEvents to e.
	_, err := ioctlPtr(fd, kvmGetVCPUEvents, unsafe.Pointer(e))
	return err
}

func translate(fd int, t *kvmTranslation) error {
	// Safe: KVM_TRANSLATE reads and writes one kvmTranslation at t.
	_, err := ioctlPtr(fd, kvmTranslate, unsafe.Pointer(t))
	return err
}

func interrupt(fd int, vector uint32) error {
	// Safe: KVM_INTERRUPT reads one struct kvm_interrupt { __u32 irq; }
	// from &vector, a local that outlives the call.
	_, err := ioctlPtr(fd, kvmInterrupt, unsafe.Pointer(&vector))
	return err
}

// setMemoryRegion maps mem (an mmap'd region, never Go heap) as guest
// physical memory at gpa in slot.
func setMemoryRegion(vmfd int, slot uint32, gpa uint64, mem []byte) error {
	// Safe: the kernel keeps the address of mem, not a Go pointer: mem
	// comes from unix.Mmap, outside the Go heap, so the garbage collector
	// neither moves nor frees it; the VM unmaps it (Close) only after the
	// VM file descriptor, which holds the mapping, has been closed.
	r := kvmUserspaceMemoryRegion{
		Slot: slot, GuestPhysAddr: gpa, MemorySize: uint64(len(mem)),
		UserspaceAddr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))),
	}
	_, err := ioctlPtr(vmfd, kvmSetUserMemoryRegion, unsafe.Pointer(&r))
	return err
}

// runWord0 is the first 32-bit word of the mmap'd kvm_run: the bytes
// request_interrupt_window, immediate_exit and two bytes of padding.
func runWord0(run []byte) *uint32 {
	// Safe: run is the kvm_run mapping (page-aligned, at least
	// runMinSize bytes, checked at mmap), so its first four bytes exist and
	// are 4-byte aligned for atomic access; the mapping outlives every
	// caller (it is unmapped only after the vCPU thread has stopped).
	return (*uint32)(unsafe.Pointer(unsafe.SliceData(run)))
}

// setRunByte atomically sets byte i (0..3) of kvm_run's first word to v,
// leaving the other three bytes as they are. Both the vCPU thread
// (request_interrupt_window) and a kicker on another thread
// (immediate_exit) write this word; the compare-and-swap keeps either from
// undoing the other's write.
func setRunByte(run []byte, i uint, v uint8) {
	w := runWord0(run)
	for {
		old := atomic.LoadUint32(w)
		nw := old&^(0xFF<<(8*i)) | uint32(v)<<(8*i)
		if old == nw || atomic.CompareAndSwapUint32(w, old, nw) {
			return
		}
	}
}

// runByte atomically reads byte i of kvm_run's first word.
func runByte(run []byte, i uint) uint8 {
	return uint8(atomic.LoadUint32(runWord0(run)) >> (8 * i))
}

func getCPUID2(fd int, c *kvmCPUID2) error {
	// Safe: KVM_GET_CPUID2 reads NEnt and writes at most NEnt entries
	// after the header; NEnt never exceeds len(c.Entries).
	if int(c.NEnt) > len(c.Entries) {
		return unix.EINVAL
	}
	_, err := ioctlPtr(fd, kvmGetCPUID2, unsafe.Pointer(c))
	return err
}

func enableCap(fd int, c *kvmEnableCap) error {
	// Safe: KVM_ENABLE_CAP reads one kvmEnableCap from c.
	_, err := ioctlPtr(fd, kvmEnableCapIoctl, unsafe.Pointer(c))
	return err
}

var (
	_ [sizeofEnableCap - unsafe.Sizeof(kvmEnableCap{})]struct{}
	_ [unsafe.Sizeof(kvmEnableCap{}) - sizeofEnableCap]struct{}
)
