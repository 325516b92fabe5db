package hwassist

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/trap"
	"virtsim/vmm"
)

// The CPU model under KVM, and what to do when KVM does not keep it.
//
// On VT-x and AMD-V, cpuid always exits to KVM, which answers from the
// table the VMM set with KVM_SET_CPUID2: the guest sees virtsim's model
// (vmm.CPUID, QEMU's qemu32) without the VMM ever seeing a cpuid. PVM
// rewrites that table: KVM_GET_CPUID2 right after KVM_SET_CPUID2 shows
// leaf 1's feature flags ORed with the host's (ECX 0x80000001 becomes
// 0xf6d81203 on these machines) and an added leaf 0xD. The guest would
// then see features qemu32 does not have, and the cpuid workload would
// print something else than under native and QEMU.
//
// So the VMM checks: it reads the table back, and if KVM changed any
// entry it intercepts cpuid itself, the way a debugger sets breakpoints.
// At boot it finds the cpuid instructions in the image's code (a linear
// sweep of the segment holding the entry point, resynchronised at every
// symbol) and replaces each one's first byte with int3 (0xCC). Executing
// one exits to user space — under PVM because KVM's emulator refuses int3
// (an emulation exit), under hardware assist through KVM_GUESTDBG_USE_SW_BP
// (a #BP debug exit) — and the VMM answers from vmm.CPUID, moves EIP past
// the two-byte instruction and resumes: a `cpuid` event, mechanism vmexit.
// The patch is invisible to the VMM's own views (Disasm, ReadMem, the
// emulator never fetches a patched site), but visible to a guest that
// reads its own code, and cpuid instructions the guest creates at run time
// are not intercepted: they see KVM's table.

// kvmGetCPUID2 is KVM_GET_CPUID2 (linux/kvm.h).
var kvmGetCPUID2 = ioc(iocRead|iocWrite, 0x91, 8)

// cpuidDiff compares the table the VMM set with the one KVM reports and
// describes every entry KVM changed or added.
func cpuidDiff(set, got *kvmCPUID2) []string {
	type key struct{ fn, idx uint32 }
	want := map[key]kvmCPUIDEntry2{}
	for _, e := range set.Entries[:set.NEnt] {
		want[key{e.Function, e.Index}] = e
	}
	var diffs, added []string
	seen := map[key]bool{}
	for _, g := range got.Entries[:min(got.NEnt, uint32(len(got.Entries)))] {
		k := key{g.Function, g.Index}
		if seen[k] {
			continue
		}
		seen[k] = true
		w, ok := want[k]
		if !ok {
			added = append(added, fmt.Sprintf("%#x.%d", g.Function, g.Index))
			continue
		}
		var parts []string
		for i, name := range []string{"eax", "ebx", "ecx", "edx"} {
			wv := [4]uint32{w.EAX, w.EBX, w.ECX, w.EDX}[i]
			gv := [4]uint32{g.EAX, g.EBX, g.ECX, g.EDX}[i]
			if wv != gv {
				parts = append(parts, fmt.Sprintf("%s %#x→%#x", name, wv, gv))
			}
		}
		if len(parts) > 0 {
			diffs = append(diffs, fmt.Sprintf("leaf %#x.%d %s", g.Function, g.Index, strings.Join(parts, " ")))
		}
	}
	for k := range want {
		if !seen[k] {
			diffs = append(diffs, fmt.Sprintf("dropped leaf %#x.%d", k.fn, k.idx))
		}
	}
	sort.Strings(diffs)
	if len(added) > 0 {
		diffs = append(diffs, "added leaves "+strings.Join(added, " "))
	}
	return diffs
}

// cpuidSites finds the cpuid instructions in img's code: a linear sweep of
// the segment that holds the entry point, restarted at each symbol
// address inside it (function starts are instruction boundaries, so a
// misdecoded run of data cannot hide the code after it).
func cpuidSites(img *guest.Image) []uint32 {
	var seg *guest.Segment
	for i := range img.Segments {
		s := &img.Segments[i]
		if img.Entry >= s.Addr && uint64(img.Entry) < uint64(s.Addr)+uint64(len(s.Data)) {
			seg = s
		}
	}
	if seg == nil {
		return nil
	}
	starts := map[uint32]bool{seg.Addr: true, img.Entry: true}
	for _, sym := range img.Symbols {
		if sym.Addr >= seg.Addr && uint64(sym.Addr) < uint64(seg.Addr)+uint64(len(seg.Data)) {
			starts[sym.Addr] = true
		}
	}
	found := map[uint32]bool{}
	for start := range starts {
		for off := start - seg.Addr; int(off) < len(seg.Data); {
			if off != start-seg.Addr && starts[seg.Addr+off] {
				break // another sweep starts here
			}
			inst, err := x86asm.Decode(seg.Data[off:], 32)
			if err != nil || inst.Len == 0 {
				off++
				continue
			}
			if inst.Op == x86asm.CPUID {
				found[seg.Addr+off] = true
			}
			off += uint32(inst.Len)
		}
	}
	sites := make([]uint32, 0, len(found))
	for pc := range found {
		sites = append(sites, pc)
	}
	sort.Slice(sites, func(i, j int) bool { return sites[i] < sites[j] })
	return sites
}

// checkCPUID reads the CPUID table back after KVM_SET_CPUID2 and, if KVM
// changed it, patches the image's cpuid instructions so that they reach
// the VMM (see the top of this file).
func (v *VM) checkCPUID(set *kvmCPUID2) error {
	got := &kvmCPUID2{NEnt: uint32(len(set.Entries))}
	if err := getCPUID2(v.vcpuFD, got); err != nil {
		return fmt.Errorf("hwassist: KVM_GET_CPUID2: %w", err)
	}
	diffs := cpuidDiff(set, got)
	if len(diffs) == 0 {
		return nil
	}
	v.cpuidSites = map[uint32]bool{}
	for _, pc := range cpuidSites(v.Img) {
		if v.mem[pc] != 0x0F || v.mem[pc+1] != 0xA2 {
			continue
		}
		v.mem[pc] = 0xCC // int3
		v.cpuidSites[pc] = true
	}
	what := fmt.Sprintf("the VMM intercepts the image's %d cpuid instruction(s) with int3 and answers them from virtsim's model", len(v.cpuidSites))
	if len(v.cpuidSites) == 0 {
		what = "the image has no cpuid instruction to intercept"
	}
	v.res.Notes = append(v.res.Notes, fmt.Sprintf("KVM does not keep virtsim's CPU model (%s): %s", strings.Join(diffs, "; "), what))
	return nil
}

// atCPUIDSite reports whether the guest stopped at a patched cpuid.
func (v *VM) atCPUIDSite(pc uint32) bool { return v.cpuidSites[pc] }

// emulateCPUID answers a patched cpuid from virtsim's model and moves EIP
// past it. KVM_SET_REGS also drops the #UD KVM queued when its emulator
// refused the int3.
func (v *VM) emulateCPUID(pc uint32) error {
	v.record(vmm.CauseCPUID, vmm.MechVMExit, pc)
	c := &kvmCPU{regs: v.regs, mem: v}
	r := vmm.CPUID(c.Reg(trap.EAX), c.Reg(trap.ECX))
	for i, reg := range []trap.Reg{trap.EAX, trap.EBX, trap.ECX, trap.EDX} {
		c.SetReg(reg, r[i])
	}
	c.SetReg(trap.EIP, pc+2)
	c.regsDirty = true
	return v.writeBack(c)
}

// original returns the image's own byte at addr, undoing a cpuid patch.
func (v *VM) original(addr uint32, b byte) byte {
	if v.cpuidSites[addr] {
		return 0x0F
	}
	return b
}
