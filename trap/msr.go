package trap

import "virtsim/vmm"

// MSRInfo describes a model-specific register the virtual CPU implements.
type MSRInfo = vmm.MSRInfo

// MSRs is the virtual CPU's MSR table (vmm.MSRs: QEMU's qemu32 after
// reset). rdmsr and wrmsr of an index that is neither there nor already in
// VCPU.MSR raise #GP(0), as hardware does for an unimplemented MSR; a VMM
// may preload VCPU.MSR to add its own.
var MSRs = vmm.MSRs

// MSRFor looks an MSR up in the table.
func MSRFor(idx uint32) (MSRInfo, bool) { return vmm.MSRFor(idx) }
