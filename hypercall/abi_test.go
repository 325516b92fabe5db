package hypercall

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/vmm"
)

// TestPVIncMatchesGo keeps guest/src/include/pvops-pv.inc and abi.go in
// step.
func TestPVIncMatchesGo(t *testing.T) {
	f, err := os.Open("../guest/src/include/pvops-pv.inc")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := regexp.MustCompile(`^\.set\s+([A-Z0-9_]+),\s*(.+?)\s*(#.*)?$`)
	vals := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := set.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		// values are numbers or NAME + number
		expr := strings.Fields(strings.ReplaceAll(m[2], "+", " + "))
		var v uint64
		ok := true
		for i := 0; i < len(expr); i += 2 {
			n, err := strconv.ParseUint(expr[i], 0, 32)
			if err != nil {
				base, known := vals[expr[i]]
				if !known {
					ok = false
					break
				}
				n = base
			}
			v += n
		}
		if ok {
			vals[m[1]] = v
		}
	}
	for name, want := range map[string]uint64{
		"PV_HYPERCALL_PAGE": HypercallPage, "PV_HCALL_STUB_SIZE": StubSize, "PV_SHARED_INFO": SharedInfo,
		"PV_SI_MAGIC": SharedInfo + SIMagic, "PV_SI_VERSION": SharedInfo + SIVersion,
		"PV_SI_MASK": SharedInfo + SIMask, "PV_SI_PENDING": SharedInfo + SIPending, "PV_SI_VECTOR": SharedInfo + SIVector,
		"PV_SI_CR0": SharedInfo + SICR0, "PV_SI_CR2": SharedInfo + SICR2, "PV_SI_CR3": SharedInfo + SICR3, "PV_SI_CR4": SharedInfo + SICR4,
		"PV_SI_GDTR": SharedInfo + SIGDTR, "PV_SI_IDTR": SharedInfo + SIIDTR, "PV_SI_GUEST": SharedInfo + GuestArea,
		"PV_SI_TR": SharedInfo + SITR, "PV_SI_EVTCHN_PENDING": SharedInfo + SIEvtchn,
		"HC_EVENT_CHANNEL_OP": HcEvtchnOp, "HC_BLKIF_CONNECT": HcBlkifConnect, "EVTCHNOP_SEND": EvtchnOpSend, "PV_SI_FAILING": SharedInfo + SIFailing, "PV_ABI_VERSION": ABIVersion,
		"HC_SET_TRAP_TABLE": HcSetTrapTable, "HC_SET_GDT": HcSetGDT, "HC_STACK_SWITCH": HcStackSwitch,
		"HC_SET_CALLBACKS": HcSetCallbacks, "HC_MULTICALL": HcMulticall, "HC_CONSOLE_IO": HcConsoleIO,
		"HC_IRET": HcIret, "HC_MMUEXT_OP": HcMMUExtOp, "HC_SCHED_OP": HcSchedOp, "HC_IO_OUT": HcIOOut,
		"HC_IO_IN": HcIOIn, "HC_SET_CR0": HcSetCR0, "HC_EVENT_CHECK": HcEventCheck,
		"CONSOLEIO_WRITE": ConsoleIOWrite, "SCHEDOP_YIELD": SchedYield, "SCHEDOP_BLOCK": SchedBlock,
		"SCHEDOP_SHUTDOWN": SchedShutdown, "SCHEDOP_HALT": SchedHalt,
		"MMUEXT_NEW_BASEPTR": MMUExtNewBaseptr, "MMUEXT_TLB_FLUSH_LOCAL": MMUExtTLBFlushLocal,
		"MMUEXT_INVLPG_LOCAL": MMUExtInvlpgLocal, "MC_ENTRY_SIZE": MulticallEntrySize,
	} {
		got, ok := vals[name]
		if !ok {
			t.Errorf("pvops-pv.inc: %s not defined", name)
		} else if got != want {
			t.Errorf("pvops-pv.inc: %s = %#x, abi.go says %#x", name, got, want)
		}
	}
	// the signature the strategy looks for
	src, _ := os.ReadFile("../guest/src/include/pvops-pv.inc")
	if !strings.Contains(string(src), `.ascii "`+ABIMagic+`"`) {
		t.Errorf("pvops-pv.inc does not carry the signature %q", ABIMagic)
	}
	// the pages lie where no image goes
	if SharedInfo+PageSize > guest.InfoAddr || HypercallPage < guest.MinLoadAddr {
		t.Errorf("the PV pages %#x..%#x collide with the low-memory layout", HypercallPage, SharedInfo+PageSize)
	}
	for _, c := range Calls {
		if c.Nr >= NumStubs {
			t.Errorf("hypercall %s (%d) has no stub", c.Name, c.Nr)
		}
	}
}

// Every stub of both substrates decodes to: movl $nr, %eax; the trapping
// instruction; ret — and the iret the iret hypercall resumes at.
func TestHypercallPage(t *testing.T) {
	for _, s := range []Substrate{StubInt82, StubPortIO} {
		page := Page(s)
		if len(page) != PageSize {
			t.Fatalf("page of %d bytes", len(page))
		}
		for nr := 0; nr < NumStubs; nr++ {
			stub := page[nr*StubSize:]
			var ops []string
			off := 0
			for _, want := range []x86asm.Op{x86asm.MOV, 0, x86asm.RET, x86asm.IRETD} {
				inst, err := x86asm.Decode(stub[off:], 32)
				if err != nil {
					t.Fatalf("substrate %d stub %d at +%d: %v", s, nr, off, err)
				}
				if want != 0 && inst.Op != want {
					t.Errorf("substrate %d stub %d: %v at +%d, want %v", s, nr, inst, off, want)
				}
				ops = append(ops, inst.String())
				switch off {
				case 0:
					if inst.Args[1] != x86asm.Imm(nr) {
						t.Errorf("stub %d loads %v", nr, inst.Args[1])
					}
				case 5:
					if s == StubInt82 && (inst.Op != x86asm.INT || inst.Args[0] != x86asm.Imm(HcallVector)) {
						t.Errorf("stub %d: %v, want int $0x82", nr, inst)
					}
					if s == StubPortIO && (inst.Op != x86asm.OUT || inst.Args[0] != x86asm.Imm(HcallPort) || inst.Args[1] != x86asm.EAX) {
						t.Errorf("stub %d: %v, want out %%eax, $%#x", nr, inst, HcallPort)
					}
				}
				off += inst.Len
			}
			if off > StubSize {
				t.Errorf("stub %d is %d bytes: %v", nr, off, ops)
			}
		}
	}
	if StubAddr(HcIret)+8 != iretAt || Page(StubInt82)[iretAt-HypercallPage] != 0xCF {
		t.Errorf("the iret hypercall's resume point %#x holds no iret", iretAt)
	}
}

// buildPVGuest assembles testdata/NAME.s with the runtime, PV build, the way
// guest/src/build.sh does. It skips without binutils.
func buildPVGuest(t *testing.T, name string) *guest.Image {
	t.Helper()
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("cannot build a test guest: %s is not on PATH (install binutils)", tool)
		}
	}
	src, err := filepath.Abs(filepath.Join("..", "guest", "src"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	as := func(in, out string) {
		cmd := exec.Command("as", "--32", "-I", filepath.Join(src, "include"), "--defsym", "PV=1", "-o", out, in)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("as %s: %v\n%s", in, err, b)
		}
	}
	objs := []string{filepath.Join(dir, "entry.o")}
	as(filepath.Join(src, "lib", "entry.s"), objs[0])
	libs, _ := filepath.Glob(filepath.Join(src, "lib", "*.s"))
	for _, l := range libs {
		if filepath.Base(l) == "entry.s" {
			continue
		}
		o := filepath.Join(dir, strings.TrimSuffix(filepath.Base(l), ".s")+".o")
		as(l, o)
		objs = append(objs, o)
	}
	wo := filepath.Join(dir, name+".o")
	as(filepath.Join("testdata", name+".s"), wo)
	elf := filepath.Join(dir, name+".elf")
	args := append([]string{"-m", "elf_i386", "-T", filepath.Join(src, "link.ld"), "-nostdlib", "-x", "-o", elf}, append(objs, wo)...)
	if b, err := exec.Command("ld", args...).CombinedOutput(); err != nil {
		t.Fatalf("ld: %v\n%s", err, b)
	}
	data, err := os.ReadFile(elf)
	if err != nil {
		t.Fatal(err)
	}
	img, err := guest.LoadELF(data, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	img.Name = name
	return img
}

// The corners of the ABI, seen from a guest: errors in EAX, a refused
// multicall entry, a hypercall from user mode turned into #GP, privileged
// instructions left to trap-and-emulate (and reported), and the iret
// hypercall delivering an event that was pending when PV_IRET unmasked.
func TestPVABIGuest(t *testing.T) {
	img := buildPVGuest(t, "pvabi")
	res := run(t, "pv", img, "", vmm.Config{})
	want := `pvabi: unknown=0xffffffda
pvabi: efault=0xfffffff2
pvabi: einval=0xffffffea
pvabi: multicall=0x00000000 nested=0xffffffea yield=0x00000000
pvabi: user-hypercall gp-error=0x00000412
pvabi: raw-cli if=0 raw-sti if=1
pvabi: iret-event ticks=1
`
	if res.Serial != want || res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
		t.Fatalf("%s\n%s\nwant:\n%s\n%s", res.Stop, res.Serial, want, res.Counts.Format())
	}
	for _, k := range []vmm.Key{
		{Cause: causeUnknown, Mech: vmm.MechHypercall},
		{Cause: "int/0x82", Mech: vmm.MechTrap},
		{Cause: "priv/cli", Mech: vmm.MechTrap},
		{Cause: "priv/sti", Mech: vmm.MechTrap},
		{Cause: causeIret, Mech: vmm.MechHypercall},
		{Cause: "irq/0", Mech: vmm.MechSharedInfo},
	} {
		if res.Counts[k] != 1 {
			t.Errorf("%s %s: %d, want 1\n%s", k.Cause, k.Mech, res.Counts[k], res.Counts.Format())
		}
	}
	if res.Counters["multicall/multicall"] != 1 || res.Counters["multicall/sched_op"] != 1 {
		t.Errorf("counters %v", res.Counters)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "2 privileged instruction(s)") {
		t.Errorf("notes %q: want the trap-and-emulate fallback reported", res.Notes)
	}
}
