// Fixed-arity C shims around libunicorn for the virtsim Go binding.
//
// This header is included by the cgo preamble of files that //export Go
// functions, so it must contain declarations only (no definitions).

#ifndef VIRTSIM_UC_SHIM_H
#define VIRTSIM_UC_SHIM_H

#include <stddef.h>
#include <stdint.h>
// libunicorn 2.1 lives in the project-local prefix .deps/unicorn (see
// scripts/unicorn.sh), never in the system: the cgo flags in engine_cgo.go
// point there.
#if defined(__has_include)
#if !__has_include(<unicorn/unicorn.h>)
#error "libunicorn 2.1 is missing from .deps/unicorn: run 'make deps' (scripts/unicorn.sh fetches Debian's libunicorn-dev 2.1 into the project)"
#endif
#endif
#include <unicorn/unicorn.h>

// The C-side instruction counter: a UC_HOOK_CODE hook that never crosses
// into Go. Allocated with malloc, owned by the Go Counter.
//
// The counter can also serve a set of instruction sites (vs_counter_add_site):
// before a counted instruction whose address is in the set, it calls Go
// (virtsimUcCode with site_handle). Unicorn's code-hook helper walks every
// code hook for every instrumented instruction, and the counter instruments
// them all: a site as one more code hook would cost every instruction a
// list step; as a bit in this table it costs one bitmap test.
//
// It can also count executions of single instructions (vs_counter_count_site):
// a counted site is a bit in a second table and an entry in an
// open-addressing hash table of counts, bumped in C — for the same reason: a
// per-site counter as a code hook of its own would lengthen the list every
// instrumented instruction walks.
#define VS_SITE_REGIONS 1024                       // 4 GiB of linear addresses
#define VS_SITE_REGION_SHIFT 22                    // 4 MiB per region
#define VS_SITE_REGION_BYTES ((1u << VS_SITE_REGION_SHIFT) / 8)
typedef struct vs_site_count {
	uint32_t addr;
	uint32_t used;      // 1 for a live entry
	uint64_t count;     // executions counted
} vs_site_count;
typedef struct vs_counter {
	uint64_t count;     // instructions that were allowed to execute
	uint64_t budget;    // 0 = unlimited
	int32_t exhausted;  // set when the budget stopped the emulation
	uc_hook hh;         // Unicorn's handle of the hook
	uintptr_t site_handle;                 // Go registry handle of the site callback; 0 = none
	uint8_t *site_bits[VS_SITE_REGIONS];   // one bit per address, a bitmap per 4 MiB, allocated on first use
	uint8_t *count_bits[VS_SITE_REGIONS];  // counted sites, as site_bits
	vs_site_count *counts;                 // counted sites' counts: linear probing, capacity a power of 2
	uint32_t counts_cap;                   // 0 until the first counted site
	uint32_t counts_len;
} vs_counter;

// The C-side block clock: a UC_HOOK_BLOCK hook that counts executed
// translated blocks and crosses into Go (virtsimUcClock) only when the count
// reaches the deadline. Allocated with malloc, owned by the Go BlockClock.
typedef struct vs_clock {
	uint64_t now;       // blocks counted so far (incremented before the check)
	uint64_t deadline;  // call Go when now >= deadline; UINT64_MAX = never
	uintptr_t handle;   // Go registry handle of the callback
	uc_hook hh;         // Unicorn's handle of the hook
	int32_t watch_if;   // call Go at the first block that starts with EFLAGS.IF set
	int32_t if_opened;  // set (with opened_after) when that happened
	uint64_t prev_end;  // the end of the block counted last
	uint64_t opened_after; // prev_end when IF was found open
} vs_clock;

// Hook registration. The integer handle is a registry index on the Go side;
// it is passed to Unicorn as the hook's user_data (an integer cast to a
// pointer-sized value, never a Go pointer).
uc_err vs_hook_intr(uc_engine *uc, uc_hook *hh, uintptr_t handle);
uc_err vs_hook_in(uc_engine *uc, uc_hook *hh, uintptr_t handle);
uc_err vs_hook_out(uc_engine *uc, uc_hook *hh, uintptr_t handle);
uc_err vs_hook_cpuid(uc_engine *uc, uc_hook *hh, uintptr_t handle);
uc_err vs_hook_insn_invalid(uc_engine *uc, uc_hook *hh, uintptr_t handle);
uc_err vs_hook_mem(uc_engine *uc, uc_hook *hh, int type, uintptr_t handle);
// Data-access hooks (UC_HOOK_MEM_READ, _READ_AFTER, _WRITE) on physical [begin, end].
uc_err vs_hook_mem_access(uc_engine *uc, uc_hook *hh, int type, uint64_t begin, uint64_t end, uintptr_t handle);
uc_err vs_hook_code(uc_engine *uc, uc_hook *hh, uint64_t begin, uint64_t end, uintptr_t handle);
// A C code hook that does nothing on [begin, end] (Engine.HookFlagsSync).
uc_err vs_hook_flags_sync(uc_engine *uc, uc_hook *hh, uint64_t begin, uint64_t end);
uc_err vs_hook_block(uc_engine *uc, uc_hook *hh, uint64_t begin, uint64_t end, uintptr_t handle);

// Counter.
vs_counter *vs_counter_new(void);
void vs_counter_free(vs_counter *c);
uc_err vs_counter_add(uc_engine *uc, vs_counter *c, uint64_t begin, uint64_t end);
uc_err vs_exits_enable(uc_engine *uc);
uc_err vs_set_exits(uc_engine *uc, uint64_t *addr, int n);
uc_err vs_exits_disable(uc_engine *uc);
uc_err vs_unmap_all(uc_engine *uc);
int vs_counter_add_site(vs_counter *c, uint32_t addr);
int vs_counter_has_site(const vs_counter *c, uint32_t addr);
int vs_counter_count_site(vs_counter *c, uint32_t addr);
int vs_counter_uncount_site(vs_counter *c, uint32_t addr, uint64_t *final);
uint64_t vs_counter_site_count(const vs_counter *c, uint32_t addr);
uint32_t vs_counter_sites(const vs_counter *c, uint32_t *addrs, uint64_t *counts, uint32_t n);

// Block clock.
vs_clock *vs_clock_new(void);
void vs_clock_free(vs_clock *c);
uc_err vs_clock_add(uc_engine *uc, vs_clock *c, uint64_t begin, uint64_t end);

// Drops every translated block (UC_CTL_TB_FLUSH). In 2.0.1
// uc_ctl_flush_tlb was this; in 2.1 it is a real TLB flush (vs_flush_tlb).
uc_err vs_flush_tb(uc_engine *uc);
uc_err vs_flush_tlb(uc_engine *uc);
uc_err vs_set_tcg_buffer_size(uc_engine *uc, uint32_t size);
uc_err vs_tlb_mode(uc_engine *uc, int mode);

// Host memory for uc_mem_map_ptr: anonymous, zeroed, page-aligned, touched
// lazily (NULL on failure).
void *vs_host_alloc(size_t size);
void vs_host_free(void *p, size_t size);

// uc_ctl is variadic as well.
uc_err vs_remove_cache(uc_engine *uc, uint64_t begin, uint64_t end);

// Registers. Values are 32-bit; every value is zeroed before a read so that
// registers Unicorn stores with a narrower width (segment selectors) read
// back correctly.
uc_err vs_reg_read32(uc_engine *uc, int reg, uint32_t *out);
uc_err vs_reg_write32(uc_engine *uc, int reg, uint32_t v);
uc_err vs_reg_read_batch32(uc_engine *uc, const int *regs, uint32_t *vals, int n);
// C-side staging for vs_reg_write_batch32: a register write can fire a
// hook (a segment load's memory access), so the call cannot be #cgo
// noescape, and Go arrays passed to it would move to the heap on every
// call. The engine stages ids and values here instead. vs_reg_write_batch32
// copies both before it writes anything, so a nested use from a hook is
// harmless.
typedef struct vs_wbatch {
	int regs[32];
	uint32_t vals[32];
} vs_wbatch;

// The register snapshot: the registers an exit handler reads, copied in one
// call (vs_snap_take) into C memory the Go side reads directly. The Engine
// keeps it valid only while nothing can change the CPU (inside a hook,
// between its own writes); see regcache_cgo.go. VS_SNAP_N scalars in the
// order of vs_snap_regs (shim.c), then the four descriptor-table registers.
#define VS_SNAP_N 20

// The C emulation of cli, sti, out to the POST port and the POST-port
// hypercalls (vs_fast_emulate in shim.c; fast_cgo.go explains when it
// applies), and the C delivery of a system call (vs_fast_gate below). A
// site is one such instruction the Go side emulated and armed; C emulates
// it at its code hook (or a cli/sti's #GP in the interrupt hook: against
// the virtual IF; the POST write has no effect but its event; a hypercall
// leaves its result), counts it per site, and returns to the guest without
// entering Go. Every Go entry disarms all sites and the gate (gen).
#define VS_FAST_SITES 8
typedef struct vs_fast_site {
	uint32_t eip;        // the instruction's EIP
	uint32_t cs;         // the real CS selector it runs with
	uint32_t cr0, cr3;   // the real CR0 and CR3 it was armed under
	const uint8_t *host; // its bytes in host-backed guest RAM
	uint32_t gen;        // armed while equal to vs_fast.gen
	uint8_t len;         // 1 (cli, sti) or 2 (out %al,$0x80)
	uint8_t bytes[2];    // FA (cli), FB (sti), E6 80 (out %al,$0x80) or CD 82 (a hypercall stub's int $0x82)
	uint64_t count;      // emulated in C since the last drain
	// A hypercall (CD 82): taken only when EAX, EBX and ECX hold the call
	// the Go side performed (number, port, size); its result goes to EAX
	// (and EDX if set_edx), EIP moves past the int, and *clear (the
	// shared-info pending flag) becomes 0.
	uint32_t eax, ebx, ecx;
	uint32_t ret_eax, ret_edx;
	uint8_t set_edx;
	uint8_t *clear;
} vs_fast_site;
// A system call delivered in C (vs_fast_deliver in shim.c, then the
// machine's landing code, vmm/fast.go):
// an int n from ring 3 through an IDT gate to a more privileged handler,
// the machine's call-gate trampoline (vmm/deliver.go) run with no Go entry.
// The Go side arms it after it made exactly that delivery (vmm/fast.go);
// every field below up to `pending` is what it saw then, and C delivers
// only while all of it still holds.
typedef struct vs_fast_gate {
	uint32_t gen;                  // armed while equal to vs_fast.gen
	uint32_t vec;                  // the vector of the int
	uint32_t cs, ss, cr0, cr3;     // the interrupted ring-3 CS and SS, CR0, CR3
	uint32_t idt_base, idt_limit;  // IDTR
	uint32_t gdt_base, gdt_limit;  // GDTR (the guest's)
	uint32_t tr_sel, tr_base, tr_limit;
	uint32_t copy_limit;           // GDTR during the trampoline: the copy at copy_base
	uint32_t copy_base;
	uint32_t stub_eip;             // the trampoline's lcall
	uint32_t handler;              // the IDT gate's offset
	uint32_t clear_if;             // an interrupt gate: the handler starts with IF clear
	uint32_t esp0;                 // the inner stack named by the TSS
	const uint8_t *gate;           // the IDT entry in host memory, and its bytes
	uint8_t gate_bytes[8];
	const uint8_t *gdt;            // the guest GDT in host memory (gdt_limit + 1 bytes)
	const uint8_t *gdt_copy;       // the machine's copy of it (the same bytes, then the call gate)
	const uint8_t *tss;            // the TSS's ESP0 and SS0 in host memory, and their bytes
	uint8_t tss_bytes[8];
	const uint8_t *stub;           // the lcall in host memory, and its bytes
	uint8_t stub_bytes[7];
	uint8_t *slot;                 // the copy's call-gate slot in host memory, and the gate C writes
	uint8_t slot_bytes[8];         // there: to the machine's landing code (vmm/fast.go)
	uint8_t *mail;                 // what the landing code reads, in host memory (VS_GATE_MAIL_* below)
	uint8_t *frame;                // the interrupt frame's EIP word (ESP0 - 20) in host memory
	int32_t pending;               // set at each delivery; the lcall not yet made while EIP is stub_eip
	uint32_t ret_eip, frame_cs, frame_flags, new_flags;
	uint64_t count;                // delivered in C since the last drain
} vs_fast_gate;
// The mailbox the machine's landing code reads (little-endian words):
// the interrupt frame's CS and EFLAGS, the handler, and the guest's GDTR
// as lgdt takes it (limit 16, base 32).
#define VS_GATE_MAIL_CS 0
#define VS_GATE_MAIL_FLAGS 4
#define VS_GATE_MAIL_HANDLER 8
#define VS_GATE_MAIL_GDTR 12
#define VS_GATE_MAIL_SIZE 18
typedef struct vs_fast {
	uint32_t gen;        // bumped at every Go entry: disarms every site
	int32_t vif;         // the virtual IF (valid while a site is armed)
	int32_t mirror;      // the real EFLAGS.IF follows the virtual IF
	const uint8_t *gdt;  // the real GDT in host memory (CS's base is checked there)
	uint32_t gdt_limit;
	uint64_t events;     // emulated in C since the last drain
	vs_fast_site site[VS_FAST_SITES];
	vs_fast_gate gate;
} vs_fast;
typedef struct vs_snap_mmr {
	uint64_t base;
	uint32_t limit;
	uint32_t flags;
	uint16_t sel;
} vs_snap_mmr;
typedef struct vs_snap {
	int32_t valid;     // vals holds the CPU's current values
	int32_t mmr_valid; // mmr holds GDTR, IDTR, LDTR, TR
	uint32_t vals[VS_SNAP_N];
	vs_snap_mmr mmr[4];
	// The eager interrupt hook (vs_hook_intr_fault): before it calls Go it
	// takes the fault (pitfall 1: error code, is-int, old_exception reset,
	// one context save and restore in ctx) and the snapshot, so the Go
	// handler starts with no cgo call to make for them.
	uintptr_t intr_handle; // Go registry handle of the handler
	uc_context *ctx;       // the engine's scratch context
	size_t code_off, old_off;
	int32_t eager;       // set by the hook: the next forget keeps the snapshot
	int32_t fault_valid; // fault_* hold the fault in flight
	int32_t fault_err;   // uc_err of the take
	uint32_t fault_code;
	int32_t fault_is_int;
	// Deferred register writes: while the eager hook's Go handler runs (and
	// no other hook is nested in it), writes of the general registers,
	// EIP and EFLAGS are queued here and performed by the hook after the
	// handler returns, or earlier by vs_snap_flush when the Go side needs
	// the CPU to have them (regcache_cgo.go).
	int32_t in_eager; // the eager hook's handler is running
	int32_t ndirty;
	int dirty_regs[16];
	uint32_t dirty_vals[16];
	int32_t flush_err; // the first failed deferred write (uc_err), sticky
	vs_fast fast;      // cli/sti emulated in C (fast_cgo.go)
} vs_snap;
uc_err vs_snap_flush(uc_engine *uc, vs_snap *s);

// An eager code hook (vs_hook_code_eager): the snapshot is taken before
// the Go handler runs and the writes it queued are performed after, as
// for the eager interrupt hook. Allocated with malloc, owned by the Engine.
typedef struct vs_eager {
	vs_snap *s;
	uintptr_t handle; // Go registry handle of the handler
} vs_eager;
uc_err vs_hook_code_eager(uc_engine *uc, uc_hook *hh, uint64_t begin, uint64_t end, vs_eager *e);
uc_err vs_snap_take(uc_engine *uc, vs_snap *s);
uc_err vs_snap_take_mmr(uc_engine *uc, vs_snap *s);
uc_err vs_hook_intr_fault(uc_engine *uc, uc_hook *hh, vs_snap *s);

uc_err vs_reg_write_batch32(uc_engine *uc, const int *regs, const uint32_t *vals, int n);
uc_err vs_mmr_read(uc_engine *uc, int reg, uint16_t *sel, uint64_t *base, uint32_t *limit, uint32_t *flags);
uc_err vs_mmr_write(uc_engine *uc, int reg, uint16_t sel, uint64_t base, uint32_t limit, uint32_t flags);
uc_err vs_msr_read(uc_engine *uc, uint32_t id, uint64_t *out);
uc_err vs_msr_write(uc_engine *uc, uint32_t id, uint64_t v);

// Context blob access for the pitfall-1 workaround (see fault_cgo.go).
uc_err vs_ctx_snapshot(uc_engine *uc, uc_context *ctx, void *out, size_t n);
uc_err vs_ctx_clear_fault(uc_engine *uc, uc_context *ctx, size_t off);
uc_err vs_ctx_take_fault(uc_engine *uc, uc_context *ctx, size_t code_off, size_t old_off, uint32_t *code, int32_t *is_int);
uc_err vs_ctx_fault_info(uc_engine *uc, uc_context *ctx, size_t off, uint32_t *code, int32_t *is_int);

#endif
