package vmm

import (
	"reflect"
	"testing"
)

// The keyboard controller, driven as a driver drives it: each row writes
// bytes to ports and reads back what a driver would read, and the IRQ 1
// edges the controller raised.
func TestKBC(t *testing.T) {
	type op struct {
		port  uint16
		write bool
		v     byte
	}
	w := func(port uint16, v byte) op { return op{port, true, v} }
	r := func(port uint16) op { return op{port: port} }
	for _, c := range []struct {
		name  string
		ops   []op
		reads []byte
		edges int // rising edges on IRQ 1
		reset string
	}{
		{"status after the BIOS", []op{r(0x64)}, []byte{0x1C}, 0, ""},
		{"self-test", []op{w(0x64, 0xAA), r(0x64), r(0x60), r(0x64)}, []byte{0x1D, 0x55, 0x1C}, 1, ""},
		{"an empty buffer reads the last byte again", []op{w(0x64, 0xAA), r(0x60), r(0x60)}, []byte{0x55, 0x55}, 1, ""},
		{"a data write clears A2", []op{w(0x60, 0xF4), r(0x64)}, []byte{0x15}, 1, ""},
		{"configuration byte written and read", []op{w(0x64, 0x60), w(0x60, 0x44), w(0x64, 0x20), r(0x60)}, []byte{0x44}, 0, ""},
		{"keyboard reset: ACK then BAT, one edge each", []op{w(0x60, 0xFF), r(0x60), r(0x60), r(0x64)}, []byte{0xFA, 0xAA, 0x14}, 2, ""},
		{"identify, translated", []op{w(0x60, 0xF2), r(0x60), r(0x60), r(0x60)}, []byte{0xFA, 0xAB, 0x41}, 3, ""},
		{"identify, untranslated", []op{w(0x64, 0x60), w(0x60, 0x01), w(0x60, 0xF2), r(0x60), r(0x60), r(0x60)}, []byte{0xFA, 0xAB, 0x83}, 3, ""},
		{"LEDs take an argument", []op{w(0x60, 0xED), r(0x60), w(0x60, 0x07), r(0x60)}, []byte{0xFA, 0xFA}, 2, ""},
		{"no interrupt with bit 0 clear", []op{w(0x64, 0x60), w(0x60, 0x00), w(0x60, 0xEE), r(0x60)}, []byte{0xEE}, 0, ""},
		{"output port and A20", []op{w(0x64, 0xD0), r(0x60), w(0x64, 0xD1), w(0x60, 0xCD), r(0x92)}, []byte{0xCF, 0x00}, 1, ""},
		{"port 0x92", []op{r(0x92)}, []byte{0x02}, 0, ""},
		{"reset by command 0xFE", []op{w(0x64, 0xFE)}, nil, 0, "keyboard controller command 0xFE"},
		{"reset by port 0x92", []op{w(0x92, 0x03)}, nil, 0, "a write of bit 0 to port 0x92"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := NewKBC()
			edges := 0
			k.SetIRQ = func(irq int, level bool) {
				if irq == 1 && level {
					edges++
				}
			}
			var reads []byte
			for _, o := range c.ops {
				if o.write {
					k.Out(o.port, 1, uint32(o.v))
				} else {
					reads = append(reads, byte(k.In(o.port, 1)))
				}
			}
			if !reflect.DeepEqual(reads, c.reads) || edges != c.edges || k.Why != c.reset {
				t.Errorf("reads % x, %d edges, reset %q; want % x, %d, %q", reads, edges, k.Why, c.reads, c.edges, c.reset)
			}
		})
	}
}
