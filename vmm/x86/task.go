package x86

import "encoding/binary"

// Hardware task switching (Intel SDM vol. 3, chapter 7): a far jmp or call
// to a TSS descriptor or a task gate, an interrupt or exception through a
// task gate in the IDT, and iret with EFLAGS.NT set save the running task's
// registers into its TSS and load the next task's from its own, CR3 and
// the LDT register included.

// TSS32Size is the size of a 32-bit TSS without an I/O permission bitmap;
// a TSS descriptor's limit must be at least TSS32Size-1.
const TSS32Size = 0x68

// TSS32 offsets of the fields a task switch reads and writes.
const (
	TSSLink   = 0x00 // the previous task's selector (a nested task's back link)
	TSSCR3    = 0x1C
	TSSEIP    = 0x20 // EIP, EFLAGS, the 8 general registers, the 6 selectors: the dynamic fields
	TSSLDT    = 0x60
	tssDynEnd = 0x60
)

// TaskState is a TSS's dynamic part: what a task switch saves into the
// outgoing task's TSS and loads from the incoming one's, with CR3 and the
// LDT selector (loaded, never saved).
type TaskState struct {
	EIP, EFLAGS uint32
	GPR         [8]uint32 // EAX ECX EDX EBX ESP EBP ESI EDI
	Seg         [6]uint16 // ES CS SS DS FS GS
	CR3         uint32
	LDT         uint16
}

// DecodeTaskState reads the task state of a 32-bit TSS image (at least
// TSS32Size bytes).
func DecodeTaskState(b []byte) TaskState {
	le := binary.LittleEndian
	s := TaskState{EIP: le.Uint32(b[TSSEIP:]), EFLAGS: le.Uint32(b[TSSEIP+4:]), CR3: le.Uint32(b[TSSCR3:]), LDT: le.Uint16(b[TSSLDT:])}
	for i := range s.GPR {
		s.GPR[i] = le.Uint32(b[TSSEIP+8+4*i:])
	}
	for i := range s.Seg {
		s.Seg[i] = le.Uint16(b[TSSEIP+40+4*i:])
	}
	return s
}

// Dynamic is the image of the fields a task switch saves (EIP through
// GS, TSS offsets TSSEIP..0x5F), to be written at TSS base+TSSEIP. The
// selectors' upper halves are written as 0, as the CPU does.
func (s TaskState) Dynamic() []byte {
	b := make([]byte, tssDynEnd-TSSEIP)
	le := binary.LittleEndian
	le.PutUint32(b[0:], s.EIP)
	le.PutUint32(b[4:], s.EFLAGS)
	for i, r := range s.GPR {
		le.PutUint32(b[8+4*i:], r)
	}
	for i, sel := range s.Seg {
		le.PutUint32(b[40+4*i:], uint32(sel))
	}
	return b
}

// TaskSwitch is what caused a task switch.
type TaskSwitch uint8

const (
	TaskJmp  TaskSwitch = iota // ljmp to a TSS or task gate
	TaskCall                   // lcall to a TSS or task gate
	TaskInt                    // an interrupt or exception (int n too) through a task gate
	TaskIret                   // iret with EFLAGS.NT set: back to the previous task
)

// TaskRule is what a task switch does to the busy bits, the back link and
// NT (SDM vol. 3, table 7-2, "Effect of a Task Switch on Busy Flag, NT
// Flag, Previous Task Link Field, and TS Flag"). TS in CR0 is set by all.
type TaskRule struct {
	NewBusy     bool // the new task must already be busy (else #TS); otherwise it must be available (else #GP) and becomes busy
	OldStays    bool // the old task stays busy (else its busy bit is cleared)
	Nest        bool // the new TSS's link gets the old TSS's selector, and the new task runs with NT=1
	SavedNTZero bool // NT is cleared in the EFLAGS image saved into the old TSS
}

// TaskRules is table 7-2 by cause.
var TaskRules = [...]TaskRule{
	TaskJmp:  {},
	TaskCall: {OldStays: true, Nest: true},
	TaskInt:  {OldStays: true, Nest: true},
	TaskIret: {NewBusy: true, SavedNTZero: true},
}

func (k TaskSwitch) String() string {
	return [...]string{"jmp", "call", "int", "iret"}[k]
}
