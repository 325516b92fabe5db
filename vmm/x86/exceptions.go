package x86

import "fmt"

// Class says how an exception relates to the instruction that caused it.
type Class uint8

const (
	// Fault: the saved EIP points at the faulting instruction, which is
	// restarted after the handler returns.
	Fault Class = iota
	// Trap: the saved EIP points after the instruction.
	Trap
	// Abort: no reliable return address (#DF, #MC).
	Abort
	// Interrupt: an external interrupt or a software int n.
	Interrupt
)

func (c Class) String() string {
	switch c {
	case Fault:
		return "fault"
	case Trap:
		return "trap"
	case Abort:
		return "abort"
	}
	return "interrupt"
}

// Exception describes one architectural exception vector.
type Exception struct {
	Vector    uint8
	Mnemonic  string // "#DE"
	Name      string // "divide error"
	Class     Class
	ErrorCode bool // the CPU pushes an error code
	// Contributory exceptions combine into a double fault when a second
	// one arises while delivering the first (Intel SDM vol. 3, table 6-5).
	Contributory bool
}

// Exceptions is the table of vectors 0–31 that x86 defines (reserved ones
// omitted). Vectors 32–255 are interrupts.
var Exceptions = []Exception{
	{0, "#DE", "divide error", Fault, false, true},
	{1, "#DB", "debug", Trap, false, false},
	{2, "NMI", "non-maskable interrupt", Interrupt, false, false},
	{3, "#BP", "breakpoint", Trap, false, false},
	{4, "#OF", "overflow", Trap, false, false},
	{5, "#BR", "bound range exceeded", Fault, false, false},
	{6, "#UD", "invalid opcode", Fault, false, false},
	{7, "#NM", "device not available", Fault, false, false},
	{8, "#DF", "double fault", Abort, true, false},
	{10, "#TS", "invalid TSS", Fault, true, true},
	{11, "#NP", "segment not present", Fault, true, true},
	{12, "#SS", "stack-segment fault", Fault, true, true},
	{13, "#GP", "general protection", Fault, true, true},
	{14, "#PF", "page fault", Fault, true, false},
	{16, "#MF", "x87 floating-point error", Fault, false, false},
	{17, "#AC", "alignment check", Fault, true, false},
	{18, "#MC", "machine check", Abort, false, false},
	{19, "#XM", "SIMD floating-point", Fault, false, false},
}

// Vector numbers used by name in code.
const (
	VecDE = 0
	VecDB = 1
	VecBP = 3
	VecOF = 4
	VecUD = 6
	VecDF = 8
	VecTS = 10
	VecNP = 11
	VecSS = 12
	VecGP = 13
	VecPF = 14
)

var byVector = func() (t [32]*Exception) {
	for i := range Exceptions {
		t[Exceptions[i].Vector] = &Exceptions[i]
	}
	return t
}()

// ExceptionFor returns the table entry for vector v, or false if v is not
// an architectural exception (an interrupt or a reserved vector).
func ExceptionFor(v uint8) (Exception, bool) {
	if v < 32 && byVector[v] != nil {
		return *byVector[v], true
	}
	return Exception{}, false
}

// VectorName names a vector the way events spell it: "#GP" for an
// exception, "0x80" for anything else.
func VectorName(v uint8) string {
	if e, ok := ExceptionFor(v); ok {
		return e.Mnemonic
	}
	return fmt.Sprintf("0x%x", v)
}

// Escalate applies the double-fault rule: a second exception `second`
// raised while delivering `first`. It returns the vector to deliver
// instead (8 for #DF) and whether the situation is a triple fault (a fault
// while delivering #DF), which shuts the processor down.
func Escalate(first, second uint8) (vector uint8, triple bool) {
	if first == VecDF {
		return 0, true
	}
	a, aok := ExceptionFor(first)
	b, bok := ExceptionFor(second)
	if !aok || !bok {
		return second, false
	}
	switch {
	case a.Contributory && b.Contributory:
		return VecDF, false
	case a.Vector == VecPF && (b.Contributory || b.Vector == VecPF):
		return VecDF, false
	}
	return second, false
}
