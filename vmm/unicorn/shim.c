// C side of the virtsim Unicorn binding: fixed-arity wrappers for Unicorn's
// variadic functions, the trampolines that forward hook callbacks to Go, and
// the C-only instruction counter and block clock.

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shim.h"
#include "_cgo_export.h"

// ---- trampolines: Unicorn callback signature -> exported Go function ----
// user_data carries the Go registry handle (an integer, not a pointer).

static void tramp_intr(uc_engine *uc, uint32_t intno, void *ud) {
	(void)uc;
	virtsimUcIntr((uintptr_t)ud, intno);
}

static uint32_t tramp_in(uc_engine *uc, uint32_t port, int size, void *ud) {
	(void)uc;
	return virtsimUcIn((uintptr_t)ud, port, size);
}

static void tramp_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *ud) {
	(void)uc;
	virtsimUcOut((uintptr_t)ud, port, size, value);
}

static int tramp_cpuid(struct uc_struct *uc, void *ud) {
	(void)uc;
	return virtsimUcCPUID((uintptr_t)ud) != 0;
}

static bool tramp_insn_invalid(uc_engine *uc, void *ud) {
	(void)uc;
	return virtsimUcInsnInvalid((uintptr_t)ud) != 0;
}

static bool tramp_mem(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *ud) {
	(void)uc;
	return virtsimUcMem((uintptr_t)ud, (int)type, addr, size, value) != 0;
}

// The data-access hooks' callbacks return nothing (uc_cb_hookmem_t).
static void tramp_mem_access(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *ud) {
	(void)uc;
	(void)virtsimUcMem((uintptr_t)ud, (int)type, addr, size, value);
}

static void tramp_code(uc_engine *uc, uint64_t addr, uint32_t size, void *ud) {
	(void)uc;
	virtsimUcCode((uintptr_t)ud, addr, size);
}

// A hypercall at an armed stub (vs_fast_site's eax..clear), from its code
// hook, before the int runs: the call the Go side performed there
// (hypercall/fast.go) when EAX, EBX and ECX select it again, with the
// same result. Returns 0 (nothing done) otherwise.
static int vs_fast_hypercall(uc_engine *uc, vs_fast *f, vs_fast_site *st, uint32_t eip) {
	int regs[3] = {UC_X86_REG_EAX, UC_X86_REG_EBX, UC_X86_REG_ECX};
	uint64_t v[3] = {0, 0, 0};
	void *p[3] = {&v[0], &v[1], &v[2]};
	if (uc_reg_read_batch(uc, regs, p, 3) != UC_ERR_OK || (uint32_t)v[0] != st->eax || (uint32_t)v[1] != st->ebx ||
	    (uint32_t)v[2] != st->ecx) {
		return 0;
	}
	uint64_t w[3] = {(uint64_t)eip + st->len, st->ret_eax, st->ret_edx};
	int wregs[3] = {UC_X86_REG_EIP, UC_X86_REG_EAX, UC_X86_REG_EDX};
	void *wp[3] = {&w[0], &w[1], &w[2]};
	if (uc_reg_write_batch(uc, wregs, wp, st->set_edx ? 3 : 2) != UC_ERR_OK) {
		return 0;
	}
	if (st->clear != NULL) {
		*st->clear = 0;
	}
	st->count++;
	f->events++;
	return 1;
}

// cli, sti, out %al,$0x80 or a hypercall at an armed site (vs_fast in shim.h),
// emulated here as the Go emulator would at virtual CPL 0
// (trap/emulate_sys.go cliSti, emulate_io.go), from a code hook on the
// site (from_code: before the instruction runs; the machine's hook on an
// I/O site, which would find the port denied and raise the #GP itself, as
// Unicorn checks no I/O permission, or the VMM's on a cli/sti site) or
// from the #GP a cli or sti raised (the interrupt hook). For cli and sti
// the virtual IF changes and the real EFLAGS.IF follows it if mirror is
// set (else the real flags stay); the POST port ignores what is written;
// EIP moves past the instruction, and the event is counted for the Go side
// to record. Returns 0 (nothing done) unless every check passes: the site
// is armed, EIP, CS, CR0 and CR3 are the armed ones, CS's descriptor in the
// real GDT has base 0 (so EIP is the linear address the armed bytes were
// found at) and the bytes are still there. A hypercall is taken from its
// code hook only (vs_fast_hypercall).
static int vs_fast_emulate(uc_engine *uc, vs_snap *s, int from_code, uint64_t addr) {
	vs_fast *f = &s->fast;
	int armed = 0;
	for (int i = 0; i < VS_FAST_SITES; i++) {
		// (A code hook knows its address: other sites cost no register read.)
		if (f->site[i].gen == f->gen && f->site[i].host != NULL && (!from_code || f->site[i].eip == addr)) {
			armed = 1;
			break;
		}
	}
	if (!armed) {
		return 0;
	}
	int regs[5] = {UC_X86_REG_EIP, UC_X86_REG_CS, UC_X86_REG_EFLAGS, UC_X86_REG_CR0, UC_X86_REG_CR3};
	uint64_t v[5] = {0, 0, 0, 0, 0};
	void *p[5] = {&v[0], &v[1], &v[2], &v[3], &v[4]};
	if (uc_reg_read_batch(uc, regs, p, 5) != UC_ERR_OK) {
		return 0;
	}
	uint32_t eip = (uint32_t)v[0], cs = (uint32_t)v[1] & 0xFFFF;
	for (int i = 0; i < VS_FAST_SITES; i++) {
		vs_fast_site *st = &f->site[i];
		if (st->gen != f->gen || st->host == NULL || st->eip != eip || st->cs != cs ||
		    (!from_code && st->bytes[0] != 0xFA && st->bytes[0] != 0xFB) ||
		    st->cr0 != (uint32_t)v[3] || st->cr3 != (uint32_t)v[4] || st->host[0] != st->bytes[0] ||
		    (st->len > 1 && st->host[1] != st->bytes[1])) {
			continue;
		}
		uint32_t idx = cs >> 3;
		if ((cs & 4) != 0 || idx == 0 || f->gdt == NULL || idx * 8 + 7 > f->gdt_limit) {
			return 0;
		}
		const uint8_t *d = f->gdt + idx * 8;
		if (d[2] != 0 || d[3] != 0 || d[4] != 0 || d[7] != 0) {
			return 0; // a base other than 0
		}
		if (st->bytes[0] == 0xCD) {
			return vs_fast_hypercall(uc, f, st, eip);
		}
		int flag = st->bytes[0] == 0xFA || st->bytes[0] == 0xFB;
		int on = st->bytes[0] == 0xFB;
		uint64_t w[2] = {(uint64_t)eip + st->len, v[2]};
		if (flag && f->mirror) {
			w[1] = on ? (v[2] | 0x200) : (v[2] & ~(uint64_t)0x200);
		}
		int wregs[2] = {UC_X86_REG_EIP, UC_X86_REG_EFLAGS};
		void *wp[2] = {&w[0], &w[1]};
		if (uc_reg_write_batch(uc, wregs, wp, w[1] != v[2] ? 2 : 1) != UC_ERR_OK) {
			return 0;
		}
		if (flag) {
			f->vif = on;
		}
		st->count++;
		f->events++;
		return 1;
	}
	return 0;
}


static void vs_put32(uint8_t *b, uint32_t v) {
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

// vs_set_gdtr loads GDTR with base and limit.
static uc_err vs_set_gdtr(uc_engine *uc, uint32_t base, uint32_t limit) {
	uc_x86_mmr gdtr;
	memset(&gdtr, 0, sizeof gdtr);
	gdtr.base = base;
	gdtr.limit = limit;
	return uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr);
}

// The armed system call (vs_fast_gate), at the interrupt hook of an int n:
// what Machine.tryDeliver and transferInner do for it, when every
// register, table entry and byte the Go side saw is unchanged: the event
// counted, GDTR pointed at the copy with the call gate, EIP at the
// trampoline's lcall. Unicorn then performs the privilege switch, through
// a gate C points at the machine's landing code, which builds the
// interrupt frame from the mailbox C fills here, restores GDTR and jumps
// to the handler (vmm/fast.go): no hook at the landing, so no walk of the
// code-hook list and no second break out of the CPU loop. Returns 0
// (nothing done) otherwise.
static int vs_fast_deliver(uc_engine *uc, vs_snap *s, uint32_t intno) {
	vs_fast *f = &s->fast;
	vs_fast_gate *g = &f->gate;
	if (g->gen != f->gen || intno != g->vec || g->gate == NULL) {
		return 0;
	}
	// One batch for the registers and the three tables (uc_reg_read
	// reads an uc_x86_mmr through its pointer like any register).
	uc_x86_mmr idtr, gdtr, tr;
	memset(&idtr, 0, sizeof idtr);
	memset(&gdtr, 0, sizeof gdtr);
	memset(&tr, 0, sizeof tr);
	int regs[9] = {UC_X86_REG_EIP, UC_X86_REG_CS, UC_X86_REG_SS, UC_X86_REG_EFLAGS, UC_X86_REG_CR0, UC_X86_REG_CR3,
		       UC_X86_REG_IDTR, UC_X86_REG_GDTR, UC_X86_REG_TR};
	uint64_t v[6] = {0, 0, 0, 0, 0, 0};
	void *p[9] = {&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &idtr, &gdtr, &tr};
	if (uc_reg_read_batch(uc, regs, p, 9) != UC_ERR_OK) {
		return 0;
	}
	uint32_t eflags = (uint32_t)v[3];
	// TF, NT, RF and VM clear: the handler's EFLAGS are the interrupted
	// ones (less IF for an interrupt gate), which the landing code keeps.
	if (((uint32_t)v[1] & 0xFFFF) != g->cs || ((uint32_t)v[2] & 0xFFFF) != g->ss || (uint32_t)v[4] != g->cr0 ||
	    (uint32_t)v[5] != g->cr3 || (eflags & (0x100 | 0x4000 | 0x10000 | 0x20000)) != 0) {
		return 0;
	}
	if ((uint32_t)idtr.base != g->idt_base || idtr.limit != g->idt_limit || (uint32_t)gdtr.base != g->gdt_base ||
	    gdtr.limit != g->gdt_limit || tr.selector != g->tr_sel || (uint32_t)tr.base != g->tr_base || tr.limit != g->tr_limit) {
		return 0;
	}
	if (memcmp(g->gate, g->gate_bytes, 8) != 0 || memcmp(g->tss, g->tss_bytes, 8) != 0 ||
	    memcmp(g->stub, g->stub_bytes, 7) != 0 || memcmp(g->gdt, g->gdt_copy, (size_t)g->gdt_limit + 1) != 0) {
		return 0;
	}
	uint32_t new_flags = eflags;
	if (g->clear_if) {
		new_flags &= ~(uint32_t)0x200;
	}
	// The landing's gate and mailbox: the machine's own pages (host
	// memory the guest cannot write), read by the landing code only; and
	// the interrupt frame's EIP, in the word below the four the lcall
	// pushes.
	memcpy(g->slot, g->slot_bytes, 8);
	vs_put32(g->mail + VS_GATE_MAIL_CS, (uint32_t)v[1] & 0xFFFF);
	vs_put32(g->mail + VS_GATE_MAIL_FLAGS, eflags);
	vs_put32(g->mail + VS_GATE_MAIL_HANDLER, g->handler);
	vs_put32(g->frame, (uint32_t)v[0]);
	g->mail[VS_GATE_MAIL_GDTR] = (uint8_t)g->gdt_limit;
	g->mail[VS_GATE_MAIL_GDTR + 1] = (uint8_t)(g->gdt_limit >> 8);
	vs_put32(g->mail + VS_GATE_MAIL_GDTR + 2, g->gdt_base);
	// GDTR and EIP in one batch (EIP last: writing it ends the hook's
	// block).
	uc_x86_mmr copy;
	memset(&copy, 0, sizeof copy);
	copy.base = g->copy_base;
	copy.limit = g->copy_limit;
	uint64_t eip = g->stub_eip;
	int wregs[2] = {UC_X86_REG_GDTR, UC_X86_REG_EIP};
	void *wp[2] = {&copy, &eip};
	if (uc_reg_write_batch(uc, wregs, wp, 2) != UC_ERR_OK) {
		vs_set_gdtr(uc, g->gdt_base, g->gdt_limit);
		return 0;
	}
	g->pending = 1;
	g->ret_eip = (uint32_t)v[0];
	g->frame_cs = (uint32_t)v[1] & 0xFFFF;
	g->frame_flags = eflags;
	g->new_flags = new_flags;
	g->count++;
	f->events++;
	return 1;
}

// The eager interrupt hook: the fault and the register snapshot are taken
// here, in C, before the one crossing into Go (see vs_snap in shim.h).
// A cli, sti or POST write at an armed site is emulated here without the
// crossing.
static void tramp_intr_fault(uc_engine *uc, uint32_t intno, void *ud) {
	vs_snap *s = (vs_snap *)ud;
	uint32_t code = 0;
	int32_t is_int = 0;
	// An armed system call (vs_fast_deliver; its vector is >= 0x20) needs
	// no fault taken: in Unicorn only `int n` raises a vector >= 0x20 (it
	// has no external interrupts), and an int n leaves old_exception as it
	// was, -1, which this hook wrote after the last exception.
	if (intno >= 0x20 && vs_fast_deliver(uc, s, intno)) {
		s->valid = 0;
		s->mmr_valid = 0;
		s->fault_valid = 0;
		return;
	}
	s->fault_err = vs_ctx_take_fault(uc, s->ctx, s->code_off, s->old_off, &code, &is_int);
	if (intno == 13 && s->fault_err == UC_ERR_OK && !is_int && code == 0 && vs_fast_emulate(uc, s, 0, 0)) {
		s->valid = 0;
		s->mmr_valid = 0;
		s->fault_valid = 0;
		return;
	}
	s->fault_code = code;
	s->fault_is_int = is_int;
	s->fault_valid = 1;
	if (vs_snap_take(uc, s) == UC_ERR_OK) {
		vs_snap_take_mmr(uc, s);
	}
	s->eager = 1;
	s->in_eager = 1;
	virtsimUcIntr(s->intr_handle, intno);
	s->eager = 0; // consumed by the Go entry, unless it skipped the callback
	s->in_eager = 0;
	vs_snap_flush(uc, s);
}

static void tramp_code_eager(uc_engine *uc, uint64_t addr, uint32_t size, void *ud) {
	vs_eager *e = (vs_eager *)ud;
	vs_snap *s = e->s;
	if (vs_fast_emulate(uc, s, 1, addr)) {
		s->valid = 0;
		s->mmr_valid = 0;
		return;
	}
	if (vs_snap_take(uc, s) == UC_ERR_OK) {
		vs_snap_take_mmr(uc, s);
	}
	s->fault_valid = 0;
	s->eager = 1;
	s->in_eager = 1;
	virtsimUcCode(e->handle, addr, size);
	s->eager = 0;
	s->in_eager = 0;
	vs_snap_flush(uc, s);
}

// ---- hook registration (uc_hook_add is variadic) ----
// begin=1, end=0 is Unicorn's "every address".

uc_err vs_hook_intr(uc_engine *uc, uc_hook *hh, uintptr_t handle) {
	return uc_hook_add(uc, hh, UC_HOOK_INTR, (void *)tramp_intr, (void *)handle, 1, 0);
}

uc_err vs_hook_intr_fault(uc_engine *uc, uc_hook *hh, vs_snap *s) {
	return uc_hook_add(uc, hh, UC_HOOK_INTR, (void *)tramp_intr_fault, (void *)s, 1, 0);
}

uc_err vs_hook_code_eager(uc_engine *uc, uc_hook *hh, uint64_t begin, uint64_t end, vs_eager *e) {
	return uc_hook_add(uc, hh, UC_HOOK_CODE, (void *)tramp_code_eager, (void *)e, begin, end);
}

uc_err vs_hook_in(uc_engine *uc, uc_hook *hh, uintptr_t handle) {
	return uc_hook_add(uc, hh, UC_HOOK_INSN, (void *)tramp_in, (void *)handle, 1, 0, UC_X86_INS_IN);
}

uc_err vs_hook_out(uc_engine *uc, uc_hook *hh, uintptr_t handle) {
	return uc_hook_add(uc, hh, UC_HOOK_INSN, (void *)tramp_out, (void *)handle, 1, 0, UC_X86_INS_OUT);
}

uc_err vs_hook_cpuid(uc_engine *uc, uc_hook *hh, uintptr_t handle) {
	return uc_hook_add(uc, hh, UC_HOOK_INSN, (void *)tramp_cpuid, (void *)handle, 1, 0, UC_X86_INS_CPUID);
}

uc_err vs_hook_insn_invalid(uc_engine *uc, uc_hook *hh, uintptr_t handle) {
	return uc_hook_add(uc, hh, UC_HOOK_INSN_INVALID, (void *)tramp_insn_invalid, (void *)handle, 1, 0);
}

uc_err vs_hook_mem(uc_engine *uc, uc_hook *hh, int type, uintptr_t handle) {
	return uc_hook_add(uc, hh, type, (void *)tramp_mem, (void *)handle, 1, 0);
}

uc_err vs_hook_mem_access(uc_engine *uc, uc_hook *hh, int type, uint64_t begin, uint64_t end, uintptr_t handle) {
	return uc_hook_add(uc, hh, type, (void *)tramp_mem_access, (void *)handle, begin, end);
}

// vs_nop_code does nothing: the code hook exists for what Unicorn does
// before calling any code hook, which is to store the flags' pending state
// (vs_hook_flags_sync).
static void vs_nop_code(uc_engine *uc, uint64_t addr, uint32_t size, void *user) {
	(void)uc;
	(void)addr;
	(void)size;
	(void)user;
}

uc_err vs_hook_flags_sync(uc_engine *uc, uc_hook *hh, uint64_t begin, uint64_t end) {
	return uc_hook_add(uc, hh, UC_HOOK_CODE, (void *)vs_nop_code, NULL, begin, end);
}

uc_err vs_hook_code(uc_engine *uc, uc_hook *hh, uint64_t begin, uint64_t end, uintptr_t handle) {
	return uc_hook_add(uc, hh, UC_HOOK_CODE, (void *)tramp_code, (void *)handle, begin, end);
}

uc_err vs_hook_block(uc_engine *uc, uc_hook *hh, uint64_t begin, uint64_t end, uintptr_t handle) {
	return uc_hook_add(uc, hh, UC_HOOK_BLOCK, (void *)tramp_code, (void *)handle, begin, end);
}

// ---- the C instruction counter ----
// A code hook runs before its instruction; uc_emu_stop inside a code hook
// stops before that instruction executes (2.x checks the exit request right
// after the hook). So: when the budget is already used up, do not count this
// instruction, flag exhaustion and stop -- exactly `budget` instructions ran
// and EIP is left at the first one that did not.

// A site (vs_counter_add_site) is served after the count, as a separate
// code hook added after the counter would be: the site's callback sees the
// instruction counted.

static inline int test_bit(uint8_t *const *regions, uint32_t addr) {
	const uint8_t *bits = regions[addr >> VS_SITE_REGION_SHIFT];
	uint32_t off = addr & ((1u << VS_SITE_REGION_SHIFT) - 1);
	return bits != NULL && (bits[off >> 3] >> (off & 7)) & 1;
}

static inline int has_site(const vs_counter *c, uint32_t addr) {
	return test_bit(c->site_bits, addr);
}

int vs_counter_has_site(const vs_counter *c, uint32_t addr) {
	return has_site(c, addr);
}

// Returns 0, or -1 if the region's bitmap cannot be allocated.
static int set_bit(uint8_t **regions, uint32_t addr, int on) {
	uint8_t **bits = &regions[addr >> VS_SITE_REGION_SHIFT];
	if (*bits == NULL) {
		if (!on) {
			return 0;
		}
		*bits = (uint8_t *)calloc(1, VS_SITE_REGION_BYTES);
		if (*bits == NULL) {
			return -1;
		}
	}
	uint32_t off = addr & ((1u << VS_SITE_REGION_SHIFT) - 1);
	if (on) {
		(*bits)[off >> 3] |= (uint8_t)(1u << (off & 7));
	} else {
		(*bits)[off >> 3] &= (uint8_t)~(1u << (off & 7));
	}
	return 0;
}

// ---- counted sites: linear probing, deletion by backward shift ----

static inline uint32_t site_home(const vs_counter *c, uint32_t addr) {
	return (addr * 0x9E3779B1u) >> 7 & (c->counts_cap - 1);
}

// The slot holding addr, or -1.
static int64_t site_find(const vs_counter *c, uint32_t addr) {
	if (c->counts_cap == 0) {
		return -1;
	}
	uint32_t mask = c->counts_cap - 1;
	for (uint32_t i = site_home(c, addr);; i = (i + 1) & mask) {
		const vs_site_count *e = &c->counts[i];
		if (!e->used) {
			return -1;
		}
		if (e->addr == addr) {
			return i;
		}
	}
}

static void site_put(vs_counter *c, uint32_t addr, uint64_t count) {
	uint32_t mask = c->counts_cap - 1;
	uint32_t i = site_home(c, addr);
	while (c->counts[i].used) {
		i = (i + 1) & mask;
	}
	c->counts[i] = (vs_site_count){.addr = addr, .used = 1, .count = count};
	c->counts_len++;
}

// Returns 0, or -1 when out of memory. Keeps the table at most half full.
static int site_grow(vs_counter *c) {
	if (2 * (c->counts_len + 1) <= c->counts_cap) {
		return 0;
	}
	uint32_t cap = c->counts_cap == 0 ? 256 : 2 * c->counts_cap;
	vs_site_count *old = c->counts;
	uint32_t old_cap = c->counts_cap;
	vs_site_count *t = (vs_site_count *)calloc(cap, sizeof(vs_site_count));
	if (t == NULL) {
		return -1;
	}
	c->counts = t;
	c->counts_cap = cap;
	c->counts_len = 0;
	for (uint32_t i = 0; i < old_cap; i++) {
		if (old[i].used) {
			site_put(c, old[i].addr, old[i].count);
		}
	}
	free(old);
	return 0;
}

// Returns 0, 1 if addr is counted already, -1 when out of memory.
int vs_counter_count_site(vs_counter *c, uint32_t addr) {
	if (site_find(c, addr) >= 0) {
		return 1;
	}
	if (site_grow(c) != 0 || set_bit(c->count_bits, addr, 1) != 0) {
		return -1;
	}
	site_put(c, addr, 0);
	return 0;
}

// Removes a counted site; *final gets its count. Returns 0, or 1 if addr
// was not counted.
int vs_counter_uncount_site(vs_counter *c, uint32_t addr, uint64_t *final) {
	int64_t at = site_find(c, addr);
	if (at < 0) {
		return 1;
	}
	*final = c->counts[at].count;
	set_bit(c->count_bits, addr, 0);
	// Backward shift: move later entries of the probe run into the hole
	// unless their home lies cyclically in (hole, their slot].
	uint32_t mask = c->counts_cap - 1;
	uint32_t hole = (uint32_t)at;
	for (uint32_t j = (hole + 1) & mask; c->counts[j].used; j = (j + 1) & mask) {
		uint32_t home = site_home(c, c->counts[j].addr);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			c->counts[hole] = c->counts[j];
			hole = j;
		}
	}
	c->counts[hole].used = 0;
	c->counts_len--;
	return 0;
}

uint64_t vs_counter_site_count(const vs_counter *c, uint32_t addr) {
	int64_t at = site_find(c, addr);
	return at < 0 ? 0 : c->counts[at].count;
}

// Copies up to n counted sites (address, count) out; returns how many there are.
uint32_t vs_counter_sites(const vs_counter *c, uint32_t *addrs, uint64_t *counts, uint32_t n) {
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->counts_cap; i++) {
		if (c->counts[i].used) {
			if (k < n) {
				addrs[k] = c->counts[i].addr;
				counts[k] = c->counts[i].count;
			}
			k++;
		}
	}
	return k;
}

static void counter_cb(uc_engine *uc, uint64_t addr, uint32_t size, void *ud) {
	vs_counter *c = (vs_counter *)ud;
	if (c->budget != 0 && c->count >= c->budget) {
		c->exhausted = 1;
		uc_emu_stop(uc);
		return;
	}
	c->count++;
	if (c->counts_len != 0 && test_bit(c->count_bits, (uint32_t)addr)) {
		int64_t at = site_find(c, (uint32_t)addr);
		if (at >= 0) {
			c->counts[at].count++;
		}
	}
	if (c->site_handle != 0 && has_site(c, (uint32_t)addr)) {
		virtsimUcCode(c->site_handle, addr, size);
	}
}

// Returns 0, or -1 if the region's bitmap cannot be allocated.
int vs_counter_add_site(vs_counter *c, uint32_t addr) {
	return set_bit(c->site_bits, addr, 1);
}

vs_counter *vs_counter_new(void) {
	return (vs_counter *)calloc(1, sizeof(vs_counter));
}

void vs_counter_free(vs_counter *c) {
	for (int i = 0; i < VS_SITE_REGIONS; i++) {
		free(c->site_bits[i]);
		free(c->count_bits[i]);
	}
	free(c->counts);
	free(c);
}

uc_err vs_counter_add(uc_engine *uc, vs_counter *c, uint64_t begin, uint64_t end) {
	return uc_hook_add(uc, &c->hh, UC_HOOK_CODE, (void *)counter_cb, (void *)c, begin, end);
}

// ---- the C block clock ----
// Unicorn 2.0.1 emits the UC_HOOK_BLOCK call at the very start of a
// translated block, before the block's exit-request check: a uc_emu_stop or
// an EIP write made here takes effect before the block's first instruction.
// The count is bumped first, so "now" at the start of the k-th counted block
// is k. UINT64_MAX as deadline means never, even if Set made now reach it;
// that second test only runs once the first one is true (rare).

static void clock_cb(uc_engine *uc, uint64_t addr, uint32_t size, void *ud) {
	vs_clock *c = (vs_clock *)ud;
	uint64_t now = ++c->now;
	uint64_t prev_end = c->prev_end;
	c->prev_end = addr + size;
	if (__builtin_expect(c->watch_if, 0)) {
		// An interrupt waits for IF: QEMU ends a translated block after
		// every instruction that can set IF (sti, popf, iret), so the
		// first block that starts with IF set is the first boundary
		// where the interrupt may be taken (the VMM checks sti's shadow).
		uint64_t fl = 0;
		if (uc_reg_read(uc, UC_X86_REG_EFLAGS, &fl) == UC_ERR_OK && (fl & 0x200)) {
			c->watch_if = 0;
			c->if_opened = 1;
			c->opened_after = prev_end;
			virtsimUcClock(c->handle, now, addr);
			return;
		}
	}
	if (__builtin_expect(now >= c->deadline, 0) && c->deadline != UINT64_MAX) {
		// c must not be touched after the call: the callback may Del the
		// clock (its memory then stays valid until Start returns, but the
		// contract is simpler if C never looks again).
		virtsimUcClock(c->handle, now, addr);
	}
}

vs_clock *vs_clock_new(void) {
	vs_clock *c = (vs_clock *)calloc(1, sizeof(vs_clock));
	if (c != NULL) {
		c->deadline = UINT64_MAX;
	}
	return c;
}

void vs_clock_free(vs_clock *c) {
	free(c);
}

uc_err vs_clock_add(uc_engine *uc, vs_clock *c, uint64_t begin, uint64_t end) {
	return uc_hook_add(uc, &c->hh, UC_HOOK_BLOCK, (void *)clock_cb, (void *)c, begin, end);
}

// ---- uc_ctl ----

uc_err vs_remove_cache(uc_engine *uc, uint64_t begin, uint64_t end) {
	return uc_ctl_remove_cache(uc, begin, end);
}

// Drops every translated block. (2.0.1 spelled this uc_ctl_flush_tlb; 2.1
// separates the two: UC_CTL_TB_FLUSH for code, UC_CTL_TLB_FLUSH for the
// software TLB.)
uc_err vs_flush_tb(uc_engine *uc) {
	return uc_ctl_flush_tb(uc);
}

// Sizes the code buffer translated blocks live in. Must come right after
// uc_open, before anything makes Unicorn initialise its translator.
uc_err vs_set_tcg_buffer_size(uc_engine *uc, uint32_t size) {
	return uc_ctl_set_tcg_buffer_size(uc, size);
}

// Empties the software TLB: what a CR3 reload or invlpg does on hardware.
uc_err vs_flush_tlb(uc_engine *uc) {
	return uc_ctl_flush_tlb(uc);
}

// Chooses who translates virtual to physical addresses: UC_TLB_CPU (the
// guest's page tables, through the CPU's MMU) or UC_TLB_VIRTUAL (identity).
uc_err vs_tlb_mode(uc_engine *uc, int mode) {
	return uc_ctl_tlb_mode(uc, mode);
}

// ---- host-backed memory ----

void *vs_host_alloc(size_t size) {
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void vs_host_free(void *p, size_t size) {
	munmap(p, size);
}

// ---- registers ----

uc_err vs_reg_read32(uc_engine *uc, int reg, uint32_t *out) {
	uint64_t v = 0; // wide scratch: no register we allow is wider than 32 bits
	uc_err err = uc_reg_read(uc, reg, &v);
	*out = (uint32_t)v;
	return err;
}

uc_err vs_reg_write32(uc_engine *uc, int reg, uint32_t v) {
	uint64_t w = v;
	return uc_reg_write(uc, reg, &w);
}

#define VS_BATCH 32

uc_err vs_reg_read_batch32(uc_engine *uc, const int *regs, uint32_t *vals, int n) {
	uint64_t tmp[VS_BATCH];
	void *ptrs[VS_BATCH];
	int rs[VS_BATCH];
	for (int done = 0; done < n; done += VS_BATCH) {
		int k = n - done < VS_BATCH ? n - done : VS_BATCH;
		for (int i = 0; i < k; i++) {
			tmp[i] = 0;
			ptrs[i] = &tmp[i];
			rs[i] = regs[done + i];
		}
		uc_err err = uc_reg_read_batch(uc, rs, ptrs, k);
		if (err != UC_ERR_OK) {
			return err;
		}
		for (int i = 0; i < k; i++) {
			vals[done + i] = (uint32_t)tmp[i];
		}
	}
	return UC_ERR_OK;
}

uc_err vs_reg_write_batch32(uc_engine *uc, const int *regs, const uint32_t *vals, int n) {
	uint64_t tmp[VS_BATCH];
	void *ptrs[VS_BATCH];
	int rs[VS_BATCH];
	for (int done = 0; done < n; done += VS_BATCH) {
		int k = n - done < VS_BATCH ? n - done : VS_BATCH;
		for (int i = 0; i < k; i++) {
			tmp[i] = vals[done + i];
			ptrs[i] = &tmp[i];
			rs[i] = regs[done + i];
		}
		uc_err err = uc_reg_write_batch(uc, rs, ptrs, k);
		if (err != UC_ERR_OK) {
			return err;
		}
	}
	return UC_ERR_OK;
}

// The scalar registers of the snapshot, in slot order (regcache_cgo.go
// mirrors this list).
static const int vs_snap_regs[VS_SNAP_N] = {
	UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
	UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI,
	UC_X86_REG_EIP, UC_X86_REG_EFLAGS,
	UC_X86_REG_CS, UC_X86_REG_SS, UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_FS, UC_X86_REG_GS,
	UC_X86_REG_CR0, UC_X86_REG_CR2, UC_X86_REG_CR3, UC_X86_REG_CR4,
};

uc_err vs_snap_flush(uc_engine *uc, vs_snap *s) {
	uc_err first = UC_ERR_OK;
	for (int i = 0; i < s->ndirty; i++) {
		uint64_t w = s->dirty_vals[i];
		uc_err err = uc_reg_write(uc, s->dirty_regs[i], &w);
		if (err != UC_ERR_OK && first == UC_ERR_OK) {
			first = err;
		}
	}
	s->ndirty = 0;
	if (first != UC_ERR_OK && s->flush_err == UC_ERR_OK) {
		s->flush_err = first;
	}
	return first;
}

uc_err vs_snap_take(uc_engine *uc, vs_snap *s) {
	uc_err err = vs_reg_read_batch32(uc, vs_snap_regs, s->vals, VS_SNAP_N);
	s->valid = err == UC_ERR_OK;
	return err;
}

static const int vs_snap_mmrs[4] = {UC_X86_REG_GDTR, UC_X86_REG_IDTR, UC_X86_REG_LDTR, UC_X86_REG_TR};

uc_err vs_snap_take_mmr(uc_engine *uc, vs_snap *s) {
	for (int i = 0; i < 4; i++) {
		uc_x86_mmr m;
		memset(&m, 0, sizeof m);
		uc_err err = uc_reg_read(uc, vs_snap_mmrs[i], &m);
		if (err != UC_ERR_OK) {
			s->mmr_valid = 0;
			return err;
		}
		s->mmr[i].base = m.base;
		s->mmr[i].limit = m.limit;
		s->mmr[i].flags = m.flags;
		s->mmr[i].sel = m.selector;
	}
	s->mmr_valid = 1;
	return UC_ERR_OK;
}

uc_err vs_mmr_read(uc_engine *uc, int reg, uint16_t *sel, uint64_t *base, uint32_t *limit, uint32_t *flags) {
	uc_x86_mmr m;
	memset(&m, 0, sizeof m);
	uc_err err = uc_reg_read(uc, reg, &m);
	*sel = m.selector;
	*base = m.base;
	*limit = m.limit;
	*flags = m.flags;
	return err;
}

uc_err vs_mmr_write(uc_engine *uc, int reg, uint16_t sel, uint64_t base, uint32_t limit, uint32_t flags) {
	uc_x86_mmr m;
	memset(&m, 0, sizeof m);
	m.selector = sel;
	m.base = base;
	m.limit = limit;
	m.flags = flags;
	return uc_reg_write(uc, reg, &m);
}

uc_err vs_msr_read(uc_engine *uc, uint32_t id, uint64_t *out) {
	uc_x86_msr m;
	m.rid = id;
	m.value = 0;
	uc_err err = uc_reg_read(uc, UC_X86_REG_MSR, &m);
	*out = m.value;
	return err;
}

uc_err vs_msr_write(uc_engine *uc, uint32_t id, uint64_t v) {
	uc_x86_msr m;
	m.rid = id;
	m.value = v;
	return uc_reg_write(uc, UC_X86_REG_MSR, &m);
}

// ---- context blob (pitfall 1) ----
// A uc_context is one malloc'ed block of uc_context_size() bytes: a small
// header followed by a byte copy of the CPU state. Offsets used here are
// relative to the start of that block and were found by calibration.

uc_err vs_ctx_snapshot(uc_engine *uc, uc_context *ctx, void *out, size_t n) {
	uc_err err = uc_context_save(uc, ctx);
	if (err != UC_ERR_OK) {
		return err;
	}
	memcpy(out, (const void *)ctx, n);
	return UC_ERR_OK;
}

uc_err vs_ctx_clear_fault(uc_engine *uc, uc_context *ctx, size_t off) {
	uc_err err = uc_context_save(uc, ctx);
	if (err != UC_ERR_OK) {
		return err;
	}
	int32_t none = -1;
	memcpy((char *)ctx + off, &none, sizeof none);
	return uc_context_restore(uc, ctx);
}

uc_err vs_ctx_fault_info(uc_engine *uc, uc_context *ctx, size_t off, uint32_t *code, int32_t *is_int) {
	uc_err err = uc_context_save(uc, ctx);
	if (err != UC_ERR_OK) {
		return err;
	}
	memcpy(code, (const char *)ctx + off, sizeof *code);
	memcpy(is_int, (const char *)ctx + off + 4, sizeof *is_int);
	return UC_ERR_OK;
}

// FaultInfo and ClearFault with one context save: the interrupt hook's
// per-exit work for pitfall 1.
uc_err vs_ctx_take_fault(uc_engine *uc, uc_context *ctx, size_t code_off, size_t old_off, uint32_t *code, int32_t *is_int) {
	uc_err err = uc_context_save(uc, ctx);
	if (err != UC_ERR_OK) {
		return err;
	}
	memcpy(code, (const char *)ctx + code_off, sizeof *code);
	memcpy(is_int, (const char *)ctx + code_off + 4, sizeof *is_int);
	int32_t none = -1;
	memcpy((char *)ctx + old_off, &none, sizeof none);
	return uc_context_restore(uc, ctx);
}


// ---- exits ----
// Without UC_CTL_UC_USE_EXITS, uc_emu_start's `until` is an exit address
// compiled into translation (until = 0: code at linear address 0 stops the
// emulation as if it were hlt), and after every run Unicorn drops the
// translations at until-1, translating that address through the guest's
// page tables. With exits enabled, the exits are a set (empty: none).

uc_err vs_exits_enable(uc_engine *uc) {
	return uc_ctl_exits_enable(uc);
}

// n = 0: no exit; n = 1: *addr is the only exit.
uc_err vs_set_exits(uc_engine *uc, uint64_t *addr, int n) {
	return uc_ctl_set_exits(uc, addr, (size_t)n);
}

uc_err vs_exits_disable(uc_engine *uc) {
	return uc_ctl_exits_disable(uc);
}

// ---- pooled engines (pool_cgo.go) ----

// Unmaps every memory region (the regions are listed first: unmapping
// changes the list).
uc_err vs_unmap_all(uc_engine *uc) {
	uc_mem_region *regs = NULL;
	uint32_t n = 0;
	uc_err err = uc_mem_regions(uc, &regs, &n);
	if (err != UC_ERR_OK) {
		return err;
	}
	for (uint32_t i = 0; i < n && err == UC_ERR_OK; i++) {
		err = uc_mem_unmap(uc, regs[i].begin, regs[i].end - regs[i].begin + 1);
	}
	uc_free(regs);
	return err;
}
