// Package unicorn is virtsim's own thin binding to libunicorn, the CPU
// emulator (QEMU's TCG translator packaged as a library) that the
// native, trap, bt and pv strategies run guests on. It covers exactly what
// virtsim needs: one x86 CPU in 32-bit mode, its memory, registers
// (including the descriptor-table registers and MSRs), the hooks through
// which Unicorn hands control to the VMM, and workarounds for the Unicorn
// 2.0.1 behaviour that would otherwise make a VMM subtly wrong.
//
// # How a Go program drives a C emulator
//
// Engine wraps a uc_engine. Most methods are one cgo call (about 25 ns):
// MemMap/MemRead/MemWrite, Reg/SetReg, Regs/SetRegs (one call for a whole
// batch, through uc_reg_read_batch), MMR/SetMMR for GDTR, IDTR, LDTR and
// TR, MSR/SetMSR. Start runs the guest until a stop condition; hooks run
// while Start is inside C.
//
// Hooks go the other way: C calls Go. Three rules shape that path:
//
//   - uc_hook_add (and uc_ctl) are variadic C functions, which cgo cannot
//     call. shim.c has one small fixed-arity wrapper per hook kind.
//   - Unicorn calls a C function pointer with a void* user_data. The
//     callback we register is a C trampoline in shim.c that calls an
//     //export-ed Go function. cgo's pointer rules forbid storing a Go
//     pointer in C memory (the garbage collector cannot see it there), so
//     user_data is a plain integer: an index into a Go registry of
//     callbacks (registry.go). Lookups are lock-free (copy-on-write table),
//     because they happen on every callback.
//   - A Go panic must never unwind through C frames: that kills the
//     process. Every exported trampoline recovers, records the panic on the
//     Engine, stops the emulation, and Start returns a *CallbackPanicError
//     with the panic value and stack. (runtime.Goexit, e.g. t.FailNow in a
//     test, cannot be recovered: do not call it inside a callback.)
//
// A C→Go callback costs about 55-60 ns. That is why Counter, the
// instruction counter, is written entirely in C (a code hook that bumps a
// C-allocated counter, ~8 ns per instruction) instead of calling Go for
// every instruction (~70 ns or more). NewInsnCounterRange limits it to an
// address range (guest RAM, not the VMM's trampoline): code outside the
// range runs at full speed.
//
// # Deterministic time
//
// BlockClock is the guest's clock: a UC_HOOK_BLOCK hook in C counts
// executed translated blocks and calls Go only when the count reaches a
// deadline, at the start of a block — an instruction boundary where the
// callback can redirect EIP (deliver an interrupt: none of the block runs)
// or Stop (Start returns before the block runs). The count depends only on
// the guest program and on where the VMM stopped or redirected it, never on
// host speed; its type documentation lists exactly what counts as a block.
//
// Its price is Unicorn's block-hook call, ~1-2.5 ns per block whatever the
// callback does (an empty C callback measures the same). On compute's loop
// (17 ALU instructions, ~2.5 ns per block unhooked) that is 1.5-1.8x, far
// above issue 3's 10% budget, and nothing on the C side can lower it. What
// can: keep the clock only while a timer is armed (compute never arms one)
// — NewBlockClock and Del between runs, carrying the time over with Set; a
// deleted clock costs nothing — or count in the translated block itself,
// like QEMU's icount does in every block's prologue (an add and a compare,
// well under 0.5 ns), which needs a patched libunicorn.
//
// Callbacks run on the goroutine that called Start and may call the
// Engine's methods (Reg, SetReg, MemWrite, Stop, Del, ClearFault, ...),
// but not Start or Close.
//
// # Pitfalls this binding works around or makes visible
//
// The numbers refer to /work/shared/SUBSTRATE.md.
//
// Pitfall 1, the phantom double fault (upstream issue #1883). Unicorn gives
// every exception to the interrupt hook instead of delivering it through
// the guest IDT, and so never resets the CPU's "exception in flight" field
// (QEMU's old_exception). The second #GP/#DE/#PF then arrives as #DF
// (intno 8), the third is a triple fault that silently ends the run.
// ClearFault fixes this by saving the CPU context, writing -1 into that
// field inside the opaque context blob, and restoring it (~150 ns). The
// field's offset is not public, so New calibrates it once per process in a
// scratch engine: it runs a #GP with a known error code, a #DE (which the
// bug turns into #DF) and an `int $13`, snapshots the context blob at
// each, and keeps the one 4-byte offset whose values go -1 → 13 → 8 → 8
// and whose neighbours 112 bytes earlier (error_code, exception_is_int)
// read 0x1230/0, 0/0, 0/1. It then verifies the offset by running
// #GP, #DE, #DE, #GP with ClearFault and checking that each arrives as
// itself. Any mismatch makes New fail: better no VMM than a wrong one.
// Calibration reports what it found. On 2.0.1 (x86-64 host) the blob is
// 5544 bytes, old_exception is at 5480, error_code at 5368.
//
// FaultInfo reads error_code and exception_is_int from the same blob: it
// gives the #GP/#PF error code, which the API does not expose, and tells a
// software `int $13` (isInt) from a real #GP — both arrive as intno 13.
//
// Pitfall 3, until is compiled into translated code: pass until = 0 to
// Start on hot paths and end runs from a hook with Stop. (A side effect:
// with until != 0 the block before until is retranslated on every Start,
// which hides pitfall 5 and the need for RemoveCache in small tests.)
//
// Pitfall 4, count > 0 adds a per-instruction hook: use Counter (or a
// separate counting pass) instead; count is fine for tests.
//
// Pitfall 5, stale translations: MemWrite does not invalidate translated
// code, and a code hook added after its block was translated is not called
// for it. Call RemoveCache over the range after either.
//
// Pitfall 6: writing EIP in a hook cancels a Stop made in the same hook.
//
// Where EIP is right. Inside the interrupt hook EIP is precise: at the
// faulting instruction for a fault, after the instruction for int n. Inside
// the CPUID hook and the invalid-instruction hook it is the instruction
// itself. Inside the IN/OUT hooks it is stale (the start of the block),
// and a Stop or EIP write there only takes effect after the block. Inside
// memory hooks (HookMemWriteProt, HookMemInvalid), and after a run stopped
// by a memory error, 2.0.1 also leaves EIP at the start of the translated
// block — although execution stopped precisely at the access (earlier
// instructions of the block ran, later ones did not). EIP is precise there
// only if a code hook covers the faulting instruction (any HookCode range
// containing it, or a Counter). A VMM that must restart after such a stop
// has to know the faulting instruction by other means.
//
// CPUID. HookCPUID's callback runs before Unicorn's own CPUID model
// (AuthenticAMD, unlike QEMU's qemu32). Returning true skips the model:
// what the callback wrote into EAX, EBX, ECX, EDX is the result. Returning
// false lets the model run afterwards and overwrite those registers.
// Either way EIP then advances past the instruction.
//
// Invalid instructions (ud2, vmcall, ...) never reach the interrupt hook.
// With or without HookInsnInvalid the run stops with EIP at the
// instruction; the hook's return value only decides whether Start returns
// ErrInsnInvalid or nil.
//
// Things no binding can fix, listed so that nobody is surprised (details in
// SUBSTRATE.md): Unicorn never uses the guest IDT (delivering exceptions
// is the VMM's job); IN/OUT never check CPL/IOPL; segment limits are not
// enforced; paging translates virtual = physical; a host-written TR with a
// busy type (0xB) aborts the whole process on the first task switch — use
// type 9 and keep untrusted runs in child processes.
//
// # Linking
//
// libunicorn is linked statically (-l:libunicorn.a -lm), so virtsim
// binaries do not need libunicorn2 at run time.
package unicorn
