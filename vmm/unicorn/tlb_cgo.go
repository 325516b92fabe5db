package unicorn

/*
#include "shim.h"
*/
import "C"

import "fmt"

// TLBMode says who translates virtual addresses (UC_CTL_TLB_TYPE).
type TLBMode int

const (
	// TLBCPU: the CPU's own MMU walks the guest's page tables (the
	// default, and the one virtsim runs with).
	TLBCPU TLBMode = C.UC_TLB_CPU
	// TLBVirtual: virtual = physical, or whatever a UC_HOOK_TLB_FILL hook says.
	TLBVirtual TLBMode = C.UC_TLB_VIRTUAL
)

// SetTLBMode chooses who translates virtual addresses.
func (e *Engine) SetTLBMode(mode TLBMode) error {
	if e.uc == nil {
		return errClosed("set TLB mode")
	}
	e.flushRegs()
	if err := ucErr(C.vs_tlb_mode(e.uc, C.int(mode))); err != nil {
		return fmt.Errorf("unicorn: set TLB mode %d: %w", mode, err)
	}
	return nil
}

// FlushTLB empties the software TLB (UC_CTL_TLB_FLUSH), as a CR3 reload
// does on the CPU. Translated code is kept.
func (e *Engine) FlushTLB() error {
	if e.uc == nil {
		return errClosed("flush TLB")
	}
	e.flushRegs()
	if err := ucErr(C.vs_flush_tlb(e.uc)); err != nil {
		return fmt.Errorf("unicorn: flush TLB: %w", err)
	}
	return nil
}
