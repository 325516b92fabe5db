package unicorn

/*
#include "shim.h"
*/
import "C"

import "unsafe"

// cli, sti, the POST write and the POST-port hypercalls emulated in C, and
// system calls delivered in C (FastGate, below).
//
// A trap-and-emulate exit enters by an exception, and the exception path
// of Unicorn alone (longjmp out of the translated code, the interrupt
// hook, the pitfall-1 context save and restore, the block lookup after)
// costs several bare hook round trips; the crossing into Go and the Go
// handler come on top (issue 16). For the hottest privileged instructions
// of a deprivileged kernel, cli and sti, and for the write to the POST port
// (port 0x80, the microbenchmarks' cheapest I/O), the interrupt hook's C
// side can do the emulation itself: the virtual IF is one bit, and the
// POST port ignores what it is given.
//
// The Go emulator stays the reference: it emulates every site first, and
// arms the sites for C only when nothing the C side does not know about
// could make the outcome differ (no interrupt pending, no stop or pause
// asked for, no instruction counter or event trace, the guest not paging,
// no timer running; trap.VMM.armFast). Every entry into Go (any hook
// callback, and Start) disarms all sites, and the Go side learns what C
// did first (OnFast's callback: the virtual IF and the events, by site),
// so the virtual IF has one owner at a time: C between two Go entries, Go
// otherwise. Hypercall sites (pv's io_out and io_in of the POST port,
// hypercall/fast.go) use the same arming: the Go path performs the call,
// then arms its stub's int $0x82 with the registers that select it and
// the result.

// FastSites is the number of sites C can hold armed at once.
const FastSites = C.VS_FAST_SITES

// FastSite is one instruction the C side may emulate: at EIP with real
// CS selector CS, under real CR0 and CR3, whose bytes lie at
// guest-physical address Phys: cli (FA), sti (FB) or out %al,$0x80
// (E6 80), whose only effect is its event, or a paravirtual hypercall
// stub's int $0x82 (CD 82) performing Call.
type FastSite struct {
	EIP, CR0, CR3, Phys uint32
	CS                  uint16
	Code                [2]byte
	Call                FastCall
}

// FastCall is the hypercall a CD 82 site performs in C (hypercall's
// fast.go): taken only while EAX, EBX and ECX hold these values (the call's
// number and the arguments that select what it does), it leaves RetEAX in
// EAX (and RetEDX in EDX if SetEDX), moves EIP past the int and clears the
// guest-physical byte Clear (the shared-info page's pending flag) if
// ClearSet.
type FastCall struct {
	EAX, EBX, ECX    uint32
	RetEAX, RetEDX   uint32
	SetEDX, ClearSet bool
	Clear            uint32
}

// FastLen is the length of a FastSite's instruction, 0 if it is none of
// those C emulates.
func FastLen(code [2]byte) int {
	switch {
	case code[0] == 0xFA || code[0] == 0xFB:
		return 1
	case code == [2]byte{0xE6, 0x80}, code == [2]byte{0xCD, 0x82}:
		return 2
	}
	return 0
}

// ArmFast arms sites (at most FastSites; site i is slot i, which OnFast's
// counts use) with the virtual IF vif. mirror makes the real EFLAGS.IF
// follow the virtual IF; gdt is the guest-physical address of the real GDT
// with its limit (CS's base must be 0 there). A site whose byte is not in
// host-backed memory is left disarmed. It reports how many were armed.
func (e *Engine) ArmFast(sites []FastSite, vif, mirror bool, gdt, gdtLimit uint32) int {
	if e.uc == nil || e.snap == nil {
		return 0
	}
	f := &e.snap.fast
	g, ok := e.hostSpan(uint64(gdt), int(gdtLimit)+1)
	if !ok {
		return 0
	}
	// Safe: g lies in a host region (C memory the engine owns until it
	// unmaps it, which a Go entry precedes and so disarms first).
	f.gdt = (*C.uint8_t)(unsafe.Pointer(&g[0]))
	f.gdt_limit = C.uint32_t(gdtLimit)
	f.vif = 0
	if vif {
		f.vif = 1
	}
	f.mirror = 0
	if mirror {
		f.mirror = 1
	}
	n := 0
	for i := range f.site {
		st := &f.site[i]
		st.gen = f.gen - 1 // disarmed
		if i >= len(sites) {
			continue
		}
		s := sites[i]
		l := FastLen(s.Code)
		b, ok := e.hostSpan(uint64(s.Phys), max(l, 1))
		if !ok || l == 0 {
			continue
		}
		st.clear = nil
		if c := s.Call; c.ClearSet {
			cb, ok := e.hostSpan(uint64(c.Clear), 1)
			if !ok {
				continue
			}
			// Safe: as for gdt above.
			st.clear = (*C.uint8_t)(unsafe.Pointer(&cb[0]))
		}
		st.eip, st.cs, st.cr0, st.cr3 = C.uint32_t(s.EIP), C.uint32_t(s.CS), C.uint32_t(s.CR0), C.uint32_t(s.CR3)
		st.eax, st.ebx, st.ecx = C.uint32_t(s.Call.EAX), C.uint32_t(s.Call.EBX), C.uint32_t(s.Call.ECX)
		st.ret_eax, st.ret_edx, st.set_edx = C.uint32_t(s.Call.RetEAX), C.uint32_t(s.Call.RetEDX), 0
		if s.Call.SetEDX {
			st.set_edx = 1
		}
		// Safe: as for gdt above.
		st.host = (*C.uint8_t)(unsafe.Pointer(&b[0]))
		st.len = C.uint8_t(l)
		st.bytes[0], st.bytes[1] = C.uint8_t(s.Code[0]), C.uint8_t(s.Code[1])
		st.gen = f.gen
		n++
	}
	return n
}

// OnFast sets the function told, at the first Go entry after C emulated
// armed sites, what it did: the virtual IF now and, per slot, how many
// times (counts[i] for the site ArmFast got as sites[i]). It runs before
// the hook's own callback, on the goroutine that runs the engine.
func (e *Engine) OnFast(fn func(vif bool, counts *[FastSites]uint64)) { e.onFast = fn }

// fastEnter runs at every Go entry: the C side's events go to OnFast's
// function, and every site is disarmed.
func (e *Engine) fastEnter() {
	s := e.snap
	if s == nil {
		return
	}
	f := &s.fast
	f.gen++
	if f.events == 0 {
		return
	}
	e.fastTotal += uint64(f.events)
	if g := &f.gate; g.count > 0 || g.pending != 0 {
		n := uint64(g.count)
		f.events -= g.count
		g.count = 0
		var p *FastGatePending
		// Pending: the landing code finishes a delivery by itself once the
		// lcall has run, and nothing enters Go in between but at the lcall
		// (EIP still at the stub).
		inFlight := false
		if g.pending != 0 {
			g.pending = 0
			// Read from the CPU (the Go side's register cache may be the
			// last stop's here).
			var eip C.uint32_t
			inFlight = C.vs_reg_read32(e.uc, C.int(EIP), &eip) == C.UC_ERR_OK && eip == g.stub_eip
		}
		if inFlight {
			p = &FastGatePending{RetEIP: uint32(g.ret_eip), FrameCS: uint32(g.frame_cs), FrameFlags: uint32(g.frame_flags),
				NewFlags: uint32(g.new_flags), GuestGDTR: MMR{Base: uint32(g.gdt_base), Limit: uint32(g.gdt_limit)}}
		}
		if e.onFastGate != nil {
			e.onFastGate(n, uint32(g.vec), p)
		}
		if f.events == 0 {
			return
		}
	}
	var counts [FastSites]uint64
	for i := range f.site {
		counts[i] = uint64(f.site[i].count)
		f.site[i].count = 0
	}
	f.events = 0
	if e.onFast != nil {
		e.onFast(f.vif != 0, &counts)
	}
}

// FastEmulated is how many instructions C has emulated on this engine
// (reported at Go entries), system calls delivered (FastGate) included.
func (e *Engine) FastEmulated() uint64 { return e.fastTotal }

// FastGate is a system call the C side may deliver (shim.c's
// vs_fast_deliver): an int Vec from ring 3 (real CS and SS selectors CS,
// SS, under CR0 and CR3) through the IDT gate at guest-physical Gate
// (bytes GateBytes; IDTR IDT) to Handler at a more privileged level,
// through the machine's call-gate trampoline: GDTR (the guest's GDT)
// switched to Copy, whose first GDT.Limit+1 bytes at guest-physical CopyAt
// equal the guest's table at GDT.Base, the call gate SlotBytes written at
// Slot (in the copy), EIP to the lcall at Stub (bytes StubBytes), Unicorn's
// privilege switch onto the inner stack ESP0 (TSS TR, whose ESP0 and SS0
// are TSSBytes), and the machine's landing code, which the gate leads to:
// it takes the interrupt frame's CS and EFLAGS, the handler and the
// guest's GDTR from the mailbox at Mail (GateMail* offsets), which C fills
// at each delivery, as it does the frame's EIP at ESP0-20 (the lcall
// pushes the four words above it); the handler runs with the interrupted
// EFLAGS (C delivers only with TF, NT, RF and VM clear), IF cleared by the
// landing code if the gate is an interrupt gate (ClearIF: SlotBytes lead
// to a cli first). Every address is guest-physical and must lie in
// host-backed memory; the guest must not page and every segment involved
// must have base 0.
type FastGate struct {
	Vec, CS, SS, CR0, CR3 uint32
	IDT, GDT, Copy, TR    MMR
	CopyAt                uint32
	Gate                  uint32
	GateBytes             [8]byte
	TSSBytes              [8]byte
	Stub                  uint32
	StubBytes             [7]byte
	Slot                  uint32
	SlotBytes             [8]byte
	Mail                  uint32
	Handler, ESP0         uint32
	ClearIF               bool
}

// The mailbox of a FastGate's landing code: offsets of the interrupt
// frame's CS and EFLAGS and of the handler (words), and of the guest's
// GDTR as lgdt reads it (limit 16, base 32); its size.
const (
	GateMailCS      = C.VS_GATE_MAIL_CS
	GateMailFlags   = C.VS_GATE_MAIL_FLAGS
	GateMailHandler = C.VS_GATE_MAIL_HANDLER
	GateMailGDTR    = C.VS_GATE_MAIL_GDTR
	GateMailSize    = C.VS_GATE_MAIL_SIZE
)

// FastGatePending is a delivery C started whose lcall had not run when Go
// was entered (a Go hook on the trampoline's stub, a stop there): what the
// Go side needs to finish it (its gate slot pointed back at the Go
// landing first).
type FastGatePending struct {
	RetEIP, FrameCS, FrameFlags, NewFlags uint32
	GuestGDTR                             MMR
}

// ArmFastGate arms g (replacing any armed before); false if a part of it
// is not in host-backed memory. Like ArmFast it calls nothing in C: safe
// inside an eager handler.
func (e *Engine) ArmFastGate(g FastGate) bool {
	if e.uc == nil || e.snap == nil {
		return false
	}
	f := &e.snap.fast
	c := &f.gate
	c.gen = f.gen - 1
	if c.pending != 0 {
		return false
	}
	gate, ok1 := e.hostSpan(uint64(g.Gate), 8)
	gdt, ok2 := e.hostSpan(uint64(g.GDT.Base), int(g.GDT.Limit)+1)
	cp, ok3 := e.hostSpan(uint64(g.CopyAt), int(g.GDT.Limit)+1)
	tss, ok4 := e.hostSpan(uint64(g.TR.Base)+4, 8)
	stub, ok5 := e.hostSpan(uint64(g.Stub), 7)
	slot, ok6 := e.hostSpan(uint64(g.Slot), 8)
	mail, ok7 := e.hostSpan(uint64(g.Mail), GateMailSize)
	frame, ok8 := e.hostSpan(uint64(g.ESP0)-20, 4)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || !ok8 || g.ESP0 < 20 {
		return false
	}
	c.vec, c.cs, c.ss, c.cr0, c.cr3 = C.uint32_t(g.Vec), C.uint32_t(g.CS), C.uint32_t(g.SS), C.uint32_t(g.CR0), C.uint32_t(g.CR3)
	c.idt_base, c.idt_limit = C.uint32_t(g.IDT.Base), C.uint32_t(g.IDT.Limit)
	c.gdt_base, c.gdt_limit = C.uint32_t(g.GDT.Base), C.uint32_t(g.GDT.Limit)
	c.tr_sel, c.tr_base, c.tr_limit = C.uint32_t(g.TR.Selector), C.uint32_t(g.TR.Base), C.uint32_t(g.TR.Limit)
	c.copy_base, c.copy_limit = C.uint32_t(g.Copy.Base), C.uint32_t(g.Copy.Limit)
	c.stub_eip, c.handler, c.esp0 = C.uint32_t(g.Stub), C.uint32_t(g.Handler), C.uint32_t(g.ESP0)
	c.clear_if = 0
	if g.ClearIF {
		c.clear_if = 1
	}
	for i := range g.GateBytes {
		c.gate_bytes[i], c.tss_bytes[i] = C.uint8_t(g.GateBytes[i]), C.uint8_t(g.TSSBytes[i])
	}
	for i := range g.StubBytes {
		c.stub_bytes[i] = C.uint8_t(g.StubBytes[i])
	}
	for i := range g.SlotBytes {
		c.slot_bytes[i] = C.uint8_t(g.SlotBytes[i])
	}
	// Safe: each lies in a host region (C memory the engine owns until it
	// unmaps it, which a Go entry precedes and so disarms first).
	c.gate = (*C.uint8_t)(unsafe.Pointer(&gate[0]))
	c.gdt = (*C.uint8_t)(unsafe.Pointer(&gdt[0]))
	c.gdt_copy = (*C.uint8_t)(unsafe.Pointer(&cp[0]))
	c.tss = (*C.uint8_t)(unsafe.Pointer(&tss[0]))
	c.stub = (*C.uint8_t)(unsafe.Pointer(&stub[0]))
	c.slot = (*C.uint8_t)(unsafe.Pointer(&slot[0]))
	c.mail = (*C.uint8_t)(unsafe.Pointer(&mail[0]))
	c.frame = (*C.uint8_t)(unsafe.Pointer(&frame[0]))
	c.gen = f.gen
	return true
}

// OnFastGate sets the function told, at the first Go entry after C
// delivered armed system calls (FastGate), how many, and, if one is still
// in flight (its landing entered Go), what the Go side needs to finish it.
// It runs before OnFast's function and the hook's own callback.
func (e *Engine) OnFastGate(fn func(n uint64, vec uint32, pending *FastGatePending)) {
	e.onFastGate = fn
}
