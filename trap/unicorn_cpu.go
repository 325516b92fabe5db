package trap

import (
	"encoding/binary"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// unicornCPU is the CPU interface over the Unicorn machine. EIP writes are
// held back and applied by the VMM through Machine.Complete, because an EIP
// write inside a hook cancels a pending stop (SUBSTRATE.md pitfall 6).
type unicornCPU struct {
	m  *vmm.Machine
	pc uint32 // the instruction being emulated
}

var regMap = [...]unicorn.Reg{
	EAX: unicorn.EAX, ECX: unicorn.ECX, EDX: unicorn.EDX, EBX: unicorn.EBX,
	ESP: unicorn.ESP, EBP: unicorn.EBP, ESI: unicorn.ESI, EDI: unicorn.EDI,
	EIP: unicorn.EIP, EFLAGS: unicorn.EFLAGS,
}

var segMap = [...]unicorn.Reg{ES: unicorn.ES, CS: unicorn.CS, SS: unicorn.SS, DS: unicorn.DS, FS: unicorn.FS, GS: unicorn.GS}

func (c *unicornCPU) Reg(r Reg) uint32 {
	if r == EIP {
		return c.pc
	}
	return c.m.Reg(regMap[r])
}

func (c *unicornCPU) SetReg(r Reg, v uint32) {
	if r == EIP {
		c.pc = v // applied by the VMM (Complete)
		return
	}
	c.m.SetReg(regMap[r], v)
}

// Seg reads a segment selector and the descriptor the real GDT holds for
// it (Unicorn does not expose the hidden descriptor cache; the real GDT is
// the VMM's own, so the two agree unless the VMM rewrote it since).
func (c *unicornCPU) Seg(s SegReg) Segment {
	sel := uint16(c.m.Reg(segMap[s]))
	seg := Segment{Sel: sel}
	if x86.SelIndex(sel) != 0 || x86.SelTI(sel) {
		if d, err := c.m.Descriptor(sel); err == nil {
			seg.Desc = d
		}
	} else {
		seg.Desc = x86.Decode([]byte{0xFF, 0xFF, 0, 0, 0, 0x92, 0xCF, 0}) // flat, as at multiboot entry
	}
	return seg
}

// LoadSeg loads the selector; Unicorn reads the descriptor from the real
// GDT (or the shadow LDT) itself. The emulator checked (and marked accessed) the guest's
// descriptor as it is now, so its shadow d goes into the real table first
// when the entry differs: the CPU loads what was checked, and finding the
// Accessed bit set it stores nothing into the read-only table (a store
// there would fire a memory hook from inside this host register write).
func (c *unicornCPU) LoadSeg(s SegReg, sel uint16, d x86.Descriptor) error {
	if addr, ok := shadowEntry(c.m, sel); ok && d.Raw != 0 {
		var cur [8]byte
		if err := c.m.OwnRead(addr, cur[:]); err != nil {
			return err
		}
		if binary.LittleEndian.Uint64(cur[:]) != d.Raw {
			binary.LittleEndian.PutUint64(cur[:], d.Raw)
			if err := c.m.OwnWrite(addr, cur[:]); err != nil {
				return err
			}
		}
	}
	return c.m.E.SetReg(segMap[s], uint32(sel))
}

func (c *unicornCPU) ReadLinear(addr uint32, b []byte) error  { return c.m.ReadMem(addr, b) }
func (c *unicornCPU) WriteLinear(addr uint32, b []byte) error { return c.m.WriteMem(addr, b) }

// DeviceWrote: an ins wrote n bytes at lin (vmm.Machine.DeviceWroteLinear).
func (c *unicornCPU) DeviceWrote(lin, n uint32) error { return c.m.DeviceWroteLinear(lin, n) }
