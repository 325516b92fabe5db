package hypercall

import (
	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
)

// The POST-port hypercalls in C (issue 16).
//
// A hypercall is an `int $0x82`: Unicorn raises the software interrupt,
// leaves its translated code, runs the interrupt hook, and the VMM decodes
// nothing but still reads the registers, finds the call site on the guest
// stack, performs the call and writes the result back. The exception path
// alone costs about one bare interrupt-hook round trip, the Go side several
// more (BENCH.md). For the calls whose whole effect is their result and
// their event, the C side of the engine (vmm/unicorn's fast_cgo.go, the
// scheme trap uses for cli, sti and the POST write) can perform them at a
// code hook on the stub's int, before it runs: io_out and io_in of one byte
// at the POST port 0x80, which io and io-in make thousands of times (the
// port ignores what is written and reads as 0xff).
//
// The Go path stays the reference: it performs every call first, and
// afterwards arms the stub's int for C with exactly what it did (the
// number, port and size that select the call, the result in EAX and EDX,
// the shared-info pending flag it wrote: 0, as no interrupt is pending) when
// nothing C does not know about could make the next such call differ: the
// guest kernel made it (virtual CPL 0) through the stub, the guest does not
// page, no trap-and-emulate fallback is running, and the machine is quiet
// (Machine.QuietResume: no counting pass, trace, pause, pending interrupt,
// live input) with no timer running (Machine.TimeIdle: the Go path's
// catch-up of device time then changes nothing). C checks EIP, the real
// CS, CR0, CR3, CS's base 0 in the real GDT, the stub's bytes and EAX, EBX,
// ECX before it performs the call. At the next entry into Go the calls C
// made are recorded (cause io/out:0x80 or io/in:0x80, mechanism
// hypercall, one event each, before whatever that entry records) and the
// POST port's write count catches up; every Go entry disarms the sites
// until the Go path performs such a call again. An event's PC is the call
// site of the call that armed the stub (the Go path records each call's
// own): only an event trace shows PCs, and a traced run never arms.

// fastCall is a hypercall site C may perform.
type fastCall struct {
	site  unicorn.FastSite
	cause string
	pc    uint32
	post  bool // an io_out to the POST port: its write count follows
}

// armFast runs after the Go path performed hypercall nr with arguments a
// at the int of pc (out its result) and resumed the guest.
func (p *VMM) armFast(pc, nr uint32, a [6]uint32, out outcome) {
	if !p.fastOK || (nr != HcIOOut && nr != HcIOIn) || a[0] != guest.PortPOST || a[1] != 1 ||
		out.ret != 0 || out.wait != waitNone || pc != StubAddr(nr)+5 {
		return
	}
	if p.V.CPL != 0 || p.inFallback || p.pg.on || p.Stopped().Kind != vmm.StopNone || !p.QuietResume() || !p.TimeIdle() {
		return
	}
	s, ok := p.FastSiteAt(pc, 2)
	if !ok || s.Code != [2]byte{0xCD, HcallVector} {
		return
	}
	s.Call = unicorn.FastCall{EAX: nr, EBX: a[0], ECX: a[1], RetEAX: out.ret, RetEDX: out.edx, SetEDX: out.setEDX,
		ClearSet: true, Clear: SharedInfo + SIPending}
	found := false
	for i := range p.fast {
		if p.fast[i].site == s {
			found = true
			break
		}
	}
	if !found {
		if !p.HookFast(pc) {
			return
		}
		if len(p.fast) == unicorn.FastSites {
			p.fast = p.fast[1:]
		}
		p.fast = append(p.fast, fastCall{site: s, cause: out.cause, pc: p.callPC, post: nr == HcIOOut})
	}
	sites := p.fastBuf[:0]
	for _, f := range p.fast {
		sites = append(sites, f.site)
	}
	p.fastBuf = sites
	p.ArmFastSites(sites)
}

// fastDone takes back what the C side did since the sites were armed (the
// virtual IF is the shared-info mask under pv, which C leaves alone).
func (p *VMM) fastDone(_ bool, counts *[unicorn.FastSites]uint64) {
	for i, n := range counts {
		if n > 0 && i < len(p.fast) {
			p.RecordN(p.fast[i].cause, vmm.MechHypercall, p.fast[i].pc, n)
			if p.fast[i].post {
				p.Post.Writes += n // what the port did n times
			}
		}
	}
}
