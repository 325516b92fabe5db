package vmm

import "golang.org/x/arch/x86/x86asm"

// DecodeCache decodes each instruction site once. An instruction that
// exits again and again (cli, sti, out in a loop) is decoded on its first
// exit; later exits compare the bytes memory holds now with the bytes it
// was decoded from, so self-modifying code and host writes (a different
// instruction at the same address) are decoded afresh. The zero value is
// ready to use; it is not safe for concurrent use.
type DecodeCache struct {
	sites map[uint32]*decodedInsn
}

type decodedInsn struct {
	n     int
	bytes [maxInsnLen]byte
	inst  x86asm.Inst
	err   error
}

// maxDecoded bounds the cache; a full cache starts over.
const maxDecoded = 4096

// Decode decodes code, the bytes fetched at addr (at most 15), in 32-bit
// mode, as x86asm.Decode does.
func (c *DecodeCache) Decode(addr uint32, code []byte) (x86asm.Inst, error) {
	if d, ok := c.sites[addr]; ok && d.n == len(code) && string(d.bytes[:d.n]) == string(code) {
		return d.inst, d.err
	}
	inst, err := x86asm.Decode(code, 32)
	if c.sites == nil || len(c.sites) >= maxDecoded {
		c.sites = make(map[uint32]*decodedInsn)
	}
	d := &decodedInsn{n: min(len(code), maxInsnLen), inst: inst, err: err}
	copy(d.bytes[:], code)
	c.sites[addr] = d
	return inst, err
}
