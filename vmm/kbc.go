package vmm

// KBC is the PS/2 keyboard controller (an Intel 8042) at ports 0x60 (data)
// and 0x64 (status and command), with the keyboard behind it, as QEMU's PC
// answers a kernel's driver (hw/input/pckbd.c and ps2.c): no key is ever
// pressed (virtsim's console is the UART), but the controller's
// self-tests, its configuration byte, its output port (the A20 gate) and
// the keyboard's replies to reset, identify, echo and the LED and
// scan-code commands are there. A driver written against a real PC waits
// for "input buffer empty" in the status register before each write; on
// an unclaimed port (all ones) that wait never ends.
//
// The controller raises IRQ 1 when it has a byte for the CPU and its
// configuration enables the keyboard interrupt (bit 0; the reply to a
// mouse command raises IRQ 12 with bit 1). Command 0xFE and a write of
// bit 0 to port 0x92 (PortA) reset the machine: virtsim stops the run, as
// QEMU does with -no-reboot.
//
// Every value was read back from QEMU 7.2 (`qemu-system-i386`, after its
// BIOS) by the corpus guest difftest/corpus/kbc.S, which TestCorpus runs
// against QEMU under every strategy.
type KBC struct {
	// Buf is the output buffer: bytes for the CPU, oldest first, with
	// BufAux marking the mouse's.
	Buf    []byte
	BufAux []bool
	Config byte // the configuration ("command") byte
	// OutPort is the output port (bit 1: the A20 gate; bit 0: reset,
	// active low).
	OutPort byte
	// Cmd is a controller command waiting for its data byte (0x60, 0xD1,
	// 0xD2, 0xD3, 0xD4), 0 if none; KbdCmd a keyboard command waiting for
	// its argument (0xED, 0xF0, 0xF3).
	Cmd, KbdCmd byte
	// A2: the last write went to the command port (status bit 3).
	A2 bool
	// Last is the last byte read from the data port, which a read of an
	// empty buffer returns again.
	Last byte
	// IRQ1, IRQ12: the levels the controller drives.
	IRQ1, IRQ12 bool
	// ResetRequested: the guest asked for a system reset.
	ResetRequested bool
	// Why says how.
	Why string

	// SetIRQ drives an ISA interrupt line (wiring, not state).
	SetIRQ func(irq int, level bool)
}

// Ports of the keyboard controller and System Control Port A.
const (
	PortKBCData   = 0x60
	PortKBCStatus = 0x64
	PortA         = 0x92
)

// Status register bits.
const (
	kbcOBF  = 1 << 0 // output buffer full: a byte for the CPU
	kbcIBF  = 1 << 1 // input buffer full: never (writes are taken at once)
	kbcSys  = 1 << 2 // system flag: the self-test passed (set by the BIOS)
	kbcA2   = 1 << 3 // the last write was a command
	kbcKeyU = 1 << 4 // keyboard not inhibited
	kbcAux  = 1 << 5 // the byte in the buffer is the mouse's
)

// Keyboard replies.
const (
	kbdACK      = 0xFA
	kbdBATOK    = 0xAA // basic assurance test passed, after a reset
	kbdEcho     = 0xEE
	kbdResend   = 0xFE
	kbcSelfTest = 0x55
)

// NewKBC is the controller as the BIOS leaves it (QEMU): keyboard
// interrupt on, mouse clock off, translation on; A20 enabled.
func NewKBC() *KBC { return &KBC{Config: 0x61, OutPort: 0xCF, A2: true} }

func (k *KBC) Name() string { return "i8042" }

func (k *KBC) In(port uint16, size int) uint32 {
	switch port {
	case PortKBCStatus:
		st := byte(kbcSys | kbcKeyU)
		if k.A2 {
			st |= kbcA2
		}
		if len(k.Buf) > 0 {
			st |= kbcOBF
			if k.BufAux[0] {
				st |= kbcAux
			}
		}
		return uint32(st)
	case PortKBCData:
		if len(k.Buf) > 0 {
			k.Last = k.Buf[0]
			k.Buf, k.BufAux = k.Buf[1:], k.BufAux[1:]
			k.update(true)
		}
		return uint32(k.Last)
	case PortA:
		return uint32(k.OutPort & 2)
	}
	return 0xFF
}

func (k *KBC) Out(port uint16, size int, v uint32) {
	b := byte(v)
	switch port {
	case PortKBCStatus:
		k.A2 = true
		k.command(b)
	case PortKBCData:
		k.A2 = false
		k.data(b)
	case PortA:
		k.OutPort = k.OutPort&^2 | b&2
		if b&1 != 0 {
			k.reset("a write of bit 0 to port 0x92")
		}
	}
}

// command is a write to port 0x64.
func (k *KBC) command(c byte) {
	k.Cmd = 0
	switch c {
	case 0x20: // read the configuration byte
		k.push(k.Config, false)
	case 0x60, 0xD1, 0xD2, 0xD3, 0xD4: // their byte follows on port 0x60
		k.Cmd = c
	case 0xA7: // disable the mouse port
		k.Config |= 1 << 5
	case 0xA8: // enable it
		k.Config &^= 1 << 5
	case 0xA9, 0xAB: // test the mouse, keyboard port: no error
		k.push(0x00, false)
	case 0xAA: // controller self-test
		k.push(kbcSelfTest, false)
	case 0xAD: // disable the keyboard
		k.Config |= 1 << 4
	case 0xAE: // enable it
		k.Config &^= 1 << 4
	case 0xC0: // read the input port
		k.push(0x80, false)
	case 0xD0: // read the output port
		k.push(k.OutPort, false)
	case 0xFE: // pulse the reset line
		k.reset("keyboard controller command 0xFE")
	}
	// Other commands (0xF0-0xFF pulse other output lines, ...) do nothing.
}

// data is a write to port 0x60: the argument of a controller command, or
// a byte for the keyboard.
func (k *KBC) data(b byte) {
	switch c := k.Cmd; c {
	case 0x60:
		k.Cmd = 0
		k.Config = b
		k.update(false)
		return
	case 0xD1:
		k.Cmd = 0
		k.OutPort = b
		if b&1 == 0 {
			k.reset("the keyboard controller's output port (reset line low)")
		}
		return
	case 0xD2, 0xD3: // write the keyboard's, the mouse's output buffer
		k.Cmd = 0
		k.push(b, c == 0xD3)
		return
	case 0xD4: // a byte for the mouse: none is attached
		k.Cmd = 0
		k.push(kbdResend, true)
		return
	}
	k.keyboard(b)
}

// keyboard is a byte for the keyboard itself.
func (k *KBC) keyboard(b byte) {
	if k.KbdCmd != 0 { // the argument of 0xED, 0xF0 or 0xF3
		cmd := k.KbdCmd
		k.KbdCmd = 0
		k.push(kbdACK, false)
		if cmd == 0xF0 && b == 0 { // get the scan code set: 2, translated
			k.push(0x41, false)
		}
		return
	}
	switch b {
	case 0xED, 0xF0, 0xF3: // LEDs, scan code set, typematic rate: an argument follows
		k.KbdCmd = b
		k.push(kbdACK, false)
	case 0xEE:
		k.push(kbdEcho, false)
	case 0xF2: // identify: an MF2 keyboard (0xAB 0x83, translated to 0xAB 0x41)
		k.push(kbdACK, false)
		k.push(0xAB, false)
		if k.Config&(1<<6) != 0 {
			k.push(0x41, false)
		} else {
			k.push(0x83, false)
		}
	case 0xFF: // reset: ACK, then the self-test's result
		k.push(kbdACK, false)
		k.push(kbdBATOK, false)
	default: // enable, disable, defaults, set all keys, ...
		k.push(kbdACK, false)
	}
}

// push queues a byte for the CPU and raises its interrupt.
func (k *KBC) push(b byte, aux bool) {
	if len(k.Buf) >= 16 {
		return
	}
	k.Buf = append(k.Buf, b)
	k.BufAux = append(k.BufAux, aux)
	k.update(len(k.Buf) == 1)
}

// update drives IRQ 1 and IRQ 12 from the head of the output buffer and
// the configuration's interrupt enables. A new byte at the head (newHead)
// is a new edge, as the real controller drops and raises its line between
// two bytes.
func (k *KBC) update(newHead bool) {
	kbd := len(k.Buf) > 0 && !k.BufAux[0] && k.Config&1 != 0
	aux := len(k.Buf) > 0 && k.BufAux[0] && k.Config&2 != 0
	if newHead {
		k.drive(1, &k.IRQ1, false)
		k.drive(12, &k.IRQ12, false)
	}
	k.drive(1, &k.IRQ1, kbd)
	k.drive(12, &k.IRQ12, aux)
}

func (k *KBC) drive(irq int, line *bool, level bool) {
	if *line == level {
		return
	}
	*line = level
	if k.SetIRQ != nil {
		k.SetIRQ(irq, level)
	}
}

func (k *KBC) reset(why string) {
	if !k.ResetRequested {
		k.ResetRequested, k.Why = true, why
	}
}
