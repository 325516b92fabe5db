package trap

import (
	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// cli, sti and the POST write in C (issue 16).
//
// A deprivileged guest kernel's cli, sti and port I/O trap (#GP at real
// CPL 1); irq-toggle does nothing but cli and sti, io nothing but write
// the POST port (0x80). Unicorn's exception path alone costs
// several bare hook round trips, so no Go handler brings such an exit near
// the cost of a hook. C can emulate these itself (vmm/unicorn's
// fast_cgo.go): the virtual IF is one bit, and the POST port ignores what
// it is given. It does so at a code hook on the site, before the
// instruction runs (HookFastSite for cli and sti; an I/O site has the
// machine's hook already), so no exception is raised at all, or, for a
// cli or sti whose hook is not armed, in the interrupt hook after the #GP. The Go emulator stays the reference:
// it emulates each site first, and afterwards arms every site it has seen,
// with the virtual IF, when the C emulation would do exactly what it does:
// virtual CPL 0, cli, sti or out %al,$0x80, nothing pending or waiting in
// the machine (Machine.QuietResume: in particular no counting pass, no
// trace), no device time to catch up (Machine.TimeIdle: the Go path
// brings the timers up to date at every I/O, and with no timer running the
// blocks the two paths run cannot move an interrupt), a timing run of trap
// itself (not bt or pv, which build on this VMM). At
// the next entry into Go the C side's events are recorded (one per
// emulated instruction, as the Go path records them) and the virtual IF
// comes back: Go owns V.IF again until it arms the sites once more.
//
// The real EFLAGS.IF: under ring compression the Go emulator leaves it as
// it is; when the real IF follows the virtual one (PassFlags, or the
// VMM's own mirroring) cli clears it and sti sets it. The VMM learns which
// rule holds from what its own emulation of a cli did (fastMirror), so the
// C side follows whichever rule setRealFlags applies.

// fastSite is an instruction the VMM emulated and C may: where, and its
// event.
type fastSite struct {
	site  unicorn.FastSite
	cause string
	pc    uint32
}

// fastMode: what the real IF does at an emulated cli, as last seen.
const (
	fastUnknown = iota
	fastKeep    // the real IF stays (ring compression)
	fastMirror  // the real IF follows the virtual IF
)

// armFast runs after the Go emulation of the instruction at pc resumed
// the guest (EmulateTrap's plain Resume).
func (t *VMM) armFast(pc uint32, out Outcome, mech vmm.Mechanism) {
	if !t.fastOK {
		return
	}
	op := out.Inst.Op
	if (op != x86asm.CLI && op != x86asm.STI && op != x86asm.OUT) || mech != vmm.MechTrap {
		return
	}
	realIF := t.Reg(unicorn.EFLAGS)&x86.FlagIF != 0
	if op == x86asm.CLI {
		t.fastMode = fastKeep
		if !realIF {
			t.fastMode = fastMirror
		}
	}
	if (t.fastMode == fastUnknown && op != x86asm.OUT) || (t.fastMode == fastMirror && realIF != t.V.IF) ||
		t.V.CPL != 0 || t.shadow || len(t.pending) > 0 || t.audited || t.Redirect != nil || t.shadowOn ||
		!t.QuietResume() {
		return
	}
	s, ok := t.FastSiteAt(pc, out.Inst.Len)
	if !ok || (op == x86asm.OUT && out.Cause != vmm.CauseOut(guest.PortPOST)) || !t.TimeIdle() {
		return
	}
	found := false
	for i := range t.fast {
		if t.fast[i].site == s {
			found = true
			break
		}
	}
	if !found {
		// cli and sti: taken before they trap (an OUT site has the
		// machine's hook already).
		if op != x86asm.OUT && !t.HookFast(pc) {
			return
		}
		if len(t.fast) == unicorn.FastSites {
			t.fast = t.fast[1:]
		}
		t.fast = append(t.fast, fastSite{site: s, cause: out.Cause, pc: pc})
	}
	sites := t.fastBuf[:0]
	for _, f := range t.fast {
		if t.fastMode == fastUnknown && f.site.Code[0] != 0xE6 {
			f.site.Code = [2]byte{} // cli/sti wait until a cli shows the rule for the real IF
		}
		sites = append(sites, f.site)
	}
	t.fastBuf = sites
	t.ArmFastSites(sites)
}

// FastSiteAt describes the n-byte instruction at pc for the C side
// (vmm/unicorn's fast_cgo.go) under the real CS, CR0 and CR3 of now, if C
// could take it there: CS has base 0 in the real GDT (so EIP is the linear
// address; the caller knows the guest does not page, so that is the
// physical one) and the bytes are one of the instructions C emulates.
func (t *VMM) FastSiteAt(pc uint32, n int) (unicorn.FastSite, bool) {
	cs := t.cpu.Seg(CS)
	if cs.Desc.Base != 0 || x86.SelTI(cs.Sel) || n < 1 || n > 2 {
		return unicorn.FastSite{}, false
	}
	var code [2]byte
	if err := t.ReadMem(pc, code[:n]); err != nil || unicorn.FastLen(code) != n {
		return unicorn.FastSite{}, false
	}
	return unicorn.FastSite{EIP: pc, CS: cs.Sel, CR0: t.Reg(unicorn.CR0), CR3: t.Reg(unicorn.CR3), Phys: pc, Code: code}, true
}

// HookFast gives the C side the instruction at pc before it runs
// (Machine.HookFastSite), once per site; false if that failed (the run
// fails with the reason).
func (t *VMM) HookFast(pc uint32) bool {
	if t.fastHooked[pc] {
		return true
	}
	if err := t.HookFastSite(pc); err != nil {
		t.Fail(err)
		return false
	}
	if t.fastHooked == nil {
		t.fastHooked = map[uint32]bool{}
	}
	t.fastHooked[pc] = true
	return true
}

// ArmFastSites arms sites for the C side (Engine.ArmFast) with the virtual
// IF, under the real GDT.
func (t *VMM) ArmFastSites(sites []unicorn.FastSite) {
	t.E.ArmFast(sites, t.V.IF, t.fastMode == fastMirror, realGDTAddr, gdtEntries*8-1)
}

// fastDone takes back what the C side did since the sites were armed.
func (t *VMM) fastDone(vif bool, counts *[unicorn.FastSites]uint64) {
	t.V.IF = vif
	for i, n := range counts {
		if n > 0 && i < len(t.fast) {
			t.RecordN(t.fast[i].cause, vmm.MechTrap, t.fast[i].pc, n)
			if t.fast[i].site.Code[0] == 0xE6 {
				t.Post.Writes += n // what the port did n times
			}
		}
	}
}
