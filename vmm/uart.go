package vmm

import (
	"bytes"
	"sync"
)

// The COM1 UART: a 16550A at ports 0x3F8-0x3FF on ISA IRQ 4.
//
// # Transmit
//
// A write to THR (base+0) is one output byte, sent at once: the
// transmitter is always empty again (LSR bits 5 and 6) by the next
// instruction.
//
// # Receive
//
// Input comes from the host: a file given before the run (`virtsim run
// --input FILE`: all of it is queued at power-on, so runs stay
// deterministic), a terminal (the guest waits in real time for what is
// typed), or the terminal UI (Feed). Bytes move from the host's queue into
// the UART's receiver — one byte in RBR, or up to 16 when the guest turns
// the FIFO on (FCR bit 0) — whenever there is room, at once: a guest that
// reads RBR finds the next byte there at the following instruction, as if
// the line were infinitely fast. (QEMU's file input behaves the same way: it
// hands the UART a byte as soon as the receiver can take one.) LSR bit 0
// (data ready) says the receiver holds data.
//
// # Interrupts
//
// IER bit 0 asks for an interrupt while received data is ready, bit 1 when
// the transmitter is empty (raised when enabled with an empty transmitter
// and after each byte sent; reading IIR when it names the transmitter
// clears it). IIR names the highest-priority cause: 0x04 received data,
// 0x02 transmitter empty, 0x01 none; bits 6-7 are set while the FIFO is on.
// The interrupt output drives ISA IRQ 4 (the 8259 and the I/O APIC). As
// under QEMU, it does not depend on MCR's OUT2 bit (on a real PC OUT2 gates
// it; xv6 clears MCR and still gets its interrupts under QEMU). A byte
// taken from RBR that is at once replaced by the next one lowers and raises
// the line: one edge per byte.
//
// # Loopback
//
// MCR bit 4 loops the transmitter back into the receiver, as kernels use
// to test the chip before trusting it (OSDev's serial driver writes 0xAE
// and expects to read it back): a byte written to THR arrives in the
// receiver instead of the line, host input waits, and MSR's upper half
// shows MCR's outputs (CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2), as
// QEMU's 16550A does.
//
// Not modelled: line-status and modem-status interrupts, the receive
// timeout interrupt and FIFO trigger levels, line speed (the divisor
// latch reads back what was written). MSR reads 0xB0 (DCD, DSR, CTS)
// outside loopback, MCR powers on as 0x08 (OUT2), as SeaBIOS leaves them.

// UART register offsets from the base port.
const (
	uartData = 0 // RBR / THR, DLL with DLAB
	uartIER  = 1 // DLM with DLAB
	uartIIR  = 2 // IIR (read) / FCR (write)
	uartLCR  = 3
	uartMCR  = 4
	uartLSR  = 5
	uartMSR  = 6
	uartSCR  = 7

	lsrDR         = 0x01
	mcrLoop       = 0x10
	lsrTHRE       = 0x20
	lsrTEMT       = 0x40
	lcrDLAB       = 0x80
	uartFIFODepth = 16
)

// Serial is the COM1 UART.
type Serial struct {
	Base   uint16
	Output bytes.Buffer
	// Echo, if set, receives every byte as it is written.
	Echo func(b byte)
	// OnIRQ, if set, is the interrupt output (ISA IRQ 4).
	OnIRQ func(level bool)

	mu   sync.Mutex
	host []byte // input waiting on the host's side
	live bool   // a live source (terminal, UI) may still send more

	rx                  []byte // the receiver: RBR or the FIFO
	ier, lcr, mcr, scr  uint8
	dll, dlm            uint8
	fifo                bool
	thrPending, irqLine bool
}

// NewSerial returns the UART at base as SeaBIOS leaves it.
func NewSerial(base uint16, echo func(byte)) *Serial {
	return &Serial{Base: base, Echo: echo, mcr: 0x08, dll: 1}
}

func (s *Serial) Name() string { return "com1" }

// Feed queues input from the host; safe from any goroutine.
func (s *Serial) Feed(b []byte) {
	s.mu.Lock()
	s.host = append(s.host, b...)
	s.mu.Unlock()
}

// SetLive says whether a live source (a terminal, the UI) may send more
// input later: a guest waiting for input then waits in real time.
func (s *Serial) SetLive(live bool) {
	s.mu.Lock()
	s.live = live
	s.mu.Unlock()
}

// Live reports whether more input may arrive from a live source.
func (s *Serial) Live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// ReceiveInterrupts reports whether the guest enabled the received-data
// interrupt (IER bit 0).
func (s *Serial) ReceiveInterrupts() bool { return s.ier&1 != 0 }

// HostPending reports whether input waits on the host's side.
func (s *Serial) HostPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.host) > 0
}

func (s *Serial) depth() int {
	if s.fifo {
		return uartFIFODepth
	}
	return 1
}

// Poll moves host input into the receiver while it has room, and updates
// the interrupt output. The machine calls it on the guest's goroutine.
func (s *Serial) Poll() {
	s.mu.Lock()
	for s.mcr&mcrLoop == 0 && len(s.host) > 0 && len(s.rx) < s.depth() {
		s.rx = append(s.rx, s.host[0])
		s.host = s.host[1:]
	}
	s.mu.Unlock()
	s.update()
}

// irqLevel is the interrupt output's level.
func (s *Serial) irqLevel() bool {
	return s.ier&1 != 0 && len(s.rx) > 0 || s.ier&2 != 0 && s.thrPending
}

func (s *Serial) update() {
	lvl := s.irqLevel()
	if lvl != s.irqLine {
		s.irqLine = lvl
		if s.OnIRQ != nil {
			s.OnIRQ(lvl)
		}
	}
}

func (s *Serial) iir() uint8 {
	v := uint8(0x01)
	switch {
	case s.ier&1 != 0 && len(s.rx) > 0:
		v = 0x04
	case s.ier&2 != 0 && s.thrPending:
		v = 0x02
	}
	if s.fifo {
		v |= 0xC0
	}
	return v
}

func (s *Serial) In(port uint16, size int) uint32 {
	switch port - s.Base {
	case uartData:
		if s.lcr&lcrDLAB != 0 {
			return uint32(s.dll)
		}
		var b byte
		if len(s.rx) > 0 {
			b = s.rx[0]
			s.rx = s.rx[1:]
		}
		s.update() // the line falls if the receiver is now empty ...
		s.Poll()   // ... and rises again with the next byte
		return uint32(b)
	case uartIER:
		if s.lcr&lcrDLAB != 0 {
			return uint32(s.dlm)
		}
		return uint32(s.ier)
	case uartIIR:
		s.Poll()
		v := s.iir()
		if v&0x0F == 0x02 {
			s.thrPending = false
			s.update()
		}
		return uint32(v)
	case uartLCR:
		return uint32(s.lcr)
	case uartMCR:
		return uint32(s.mcr)
	case uartLSR:
		s.Poll()
		v := uint32(lsrTHRE | lsrTEMT)
		if len(s.rx) > 0 {
			v |= lsrDR
		}
		return v
	case uartMSR:
		if s.mcr&mcrLoop != 0 {
			return uint32(s.mcr&0x0C)<<4 | uint32(s.mcr&0x02)<<3 | uint32(s.mcr&0x01)<<5
		}
		return 0xB0
	case uartSCR:
		return uint32(s.scr)
	}
	return 0xFF
}

func (s *Serial) Out(port uint16, size int, v uint32) {
	b := uint8(v)
	switch port - s.Base {
	case uartData:
		if s.lcr&lcrDLAB != 0 {
			s.dll = b
			return
		}
		if s.mcr&mcrLoop != 0 {
			if len(s.rx) < s.depth() {
				s.rx = append(s.rx, b) // looped back: the line sees nothing
			}
		} else {
			s.Output.WriteByte(b)
			if s.Echo != nil {
				s.Echo(b)
			}
		}
		s.thrPending = true // sent at once: the transmitter is empty again
	case uartIER:
		if s.lcr&lcrDLAB != 0 {
			s.dlm = b
			return
		}
		if b&2 != 0 && s.ier&2 == 0 {
			s.thrPending = true
		}
		s.ier = b & 0x0F
	case uartIIR: // FCR
		s.fifo = b&1 != 0
		switch {
		case b&2 != 0: // clear the receiver: what it held is lost
			s.rx = nil
		case !s.fifo && len(s.rx) > 1: // back to one byte: the rest waits on the host
			s.mu.Lock()
			s.host = append(append([]byte{}, s.rx[1:]...), s.host...)
			s.mu.Unlock()
			s.rx = s.rx[:1]
		}
		s.Poll()
		return
	case uartLCR:
		s.lcr = b
	case uartMCR:
		s.mcr = b & 0x1F
		s.Poll() // out of loopback, host input may come in again
	case uartSCR:
		s.scr = b
	}
	s.update()
}
