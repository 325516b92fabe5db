package trap

import (
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/internal/insntable"
)

type classLine struct {
	lineno int
	code   []byte
	text   string
	class  Class
	cause  string
}

func readClassTable(t *testing.T) []classLine {
	t.Helper()
	rows, err := insntable.Read("testdata/classes.txt", 4, 5)
	if err != nil {
		t.Fatal(err)
	}
	var lines []classLine
	for _, r := range rows {
		c, err := ParseClass(r.Field(0))
		if err != nil {
			t.Fatalf("classes.txt:%d: %v", r.Line, err)
		}
		lines = append(lines, classLine{r.Line, r.Code, r.Text, c, r.Field(1)})
	}
	if len(lines) < 50 {
		t.Fatalf("classes.txt has only %d instructions", len(lines))
	}
	return lines
}

// TestClassTable decodes every line of testdata/classes.txt and checks the
// decoded text, the class and the cause Classify gives.
func TestClassTable(t *testing.T) {
	for _, l := range readClassTable(t) {
		inst, err := x86asm.Decode(l.code, 32)
		if err != nil || inst.Op == 0 {
			t.Errorf("classes.txt:%d: % x does not decode: %v", l.lineno, l.code, err)
			continue
		}
		if inst.Len != len(l.code) {
			t.Errorf("classes.txt:%d: % x decodes as %d bytes, the line has %d", l.lineno, l.code, inst.Len, len(l.code))
		}
		if got := x86asm.GNUSyntax(inst, 0, nil); got != l.text {
			t.Errorf("classes.txt:%d: % x decodes as %q, the line says %q", l.lineno, l.code, got, l.text)
		}
		ic := Classify(inst)
		if ic.Class != l.class || ic.Cause != l.cause {
			t.Errorf("classes.txt:%d: %s: Classify = %v %q, want %v %q", l.lineno, l.text, ic.Class, ic.Cause, l.class, l.cause)
		}
		if hole := l.class == Sensitive && strings.HasPrefix(l.cause, "sens/"); ic.Hole() != hole {
			t.Errorf("classes.txt:%d: %s: Hole() = %v", l.lineno, l.text, ic.Hole())
		}
		if ic.Op != inst.Op {
			t.Errorf("classes.txt:%d: Classify.Op = %v, want %v", l.lineno, ic.Op, inst.Op)
		}
	}
}

// TestClassTableCoverage: every class appears in the table, and every
// opcode of the Go table (opClasses) has a line, so neither can drift.
func TestClassTableCoverage(t *testing.T) {
	lines := readClassTable(t)
	seenClass := map[Class]int{}
	seenOp := map[x86asm.Op]bool{}
	for _, l := range lines {
		seenClass[l.class]++
		inst, err := x86asm.Decode(l.code, 32)
		if err == nil {
			seenOp[inst.Op] = true
		}
	}
	for c := Class(0); c < numClasses; c++ {
		if seenClass[c] == 0 {
			t.Errorf("class %v has no line in classes.txt", c)
		}
	}
	for op := range opClasses {
		if !seenOp[op] {
			t.Errorf("opClasses has %v but classes.txt has no line for it", op)
		}
	}
	for _, op := range []x86asm.Op{x86asm.MOV, x86asm.PUSH, x86asm.POP, x86asm.IN, x86asm.OUT, x86asm.INT} {
		if !seenOp[op] {
			t.Errorf("operand-dependent %v has no line in classes.txt", op)
		}
	}
}

func TestClassStrings(t *testing.T) {
	for c := Class(0); c < numClasses; c++ {
		back, err := ParseClass(c.String())
		if err != nil || back != c {
			t.Errorf("ParseClass(%q) = %v, %v", c.String(), back, err)
		}
	}
	if _, err := ParseClass("bogus"); err == nil {
		t.Error("ParseClass accepted an unknown class")
	}
	if s := Class(9).String(); s != "class(9)" {
		t.Errorf("Class(9).String() = %q", s)
	}
}

// The cause spellings must stay those of package vmm (vmm.CauseOut,
// CauseIn, CauseInt, CauseCPUID, CauseHLT); vmm is not imported here so
// that trap's tests do not depend on the machine's, so the formats are
// pinned instead.
func TestCauseSpellings(t *testing.T) {
	for got, want := range map[string]string{
		causeOut(0x80): "io/out:0x80", causeOut(0): "io/out:0x0", causeIn(0x3fd): "io/in:0x3fd",
		causeInt(0x80): "int/0x80", causeInt(3): "int/0x3",
	} {
		if got != want {
			t.Errorf("cause %q, want %q", got, want)
		}
	}
}
