/* virtsim.h — the guest SDK's C interface.
 *
 * A guest is a tiny kernel: it starts in main() at CPL 0 (under virtsim's
 * trap, bt and pv strategies the VMM runs it deprivileged, and it must not
 * notice), with the loader's flat segments, interrupts off, and no libc.
 * Everything privileged goes through the functions below, never through
 * inline assembly, so that one source builds both images:
 *
 *   NAME.elf     the functions execute the real instructions (cli, outb, lidt, ...)
 *   NAME.pv.elf  the same functions, assembled with PV=1, ask the VMM by
 *                hypercall or write the shared-info page instead (the pv_ops
 *                layer: include/pvops.inc and pvops-pv.inc)
 *
 * The implementations are in sdk/pvops.s (over the macros in include/) and
 * sdk/sdk.c; the runtime they use is in rt/ (the same runtime virtsim's own
 * workloads use).
 */
#ifndef VIRTSIM_H
#define VIRTSIM_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int s32;

/* ---- console (COM1, line-buffered: one port write per byte natively, one
 * console_io hypercall per line under pv) ---- */
void putc(int c);
void puts(const char *s);           /* no newline added */
void put_dec(u32 v);                /* unsigned decimal */
void put_hex(u32 v, int digits);    /* the low digits hex digits, no 0x */

/* ---- the command line (virtsim run --args "n=10", QEMU -append) ---- */
u32 arg(const char *key, u32 def);  /* value of key=VALUE (decimal or 0x-hex), or def */

/* ---- stopping: the status is virtsim's exit status (0-63) ---- */
void exit(int status) __attribute__((noreturn));

/* ---- interrupts ---- */
void cli(void);
void sti(void);
void hlt(void);
void safe_halt(void);               /* sti; hlt as one step (wakes on a pending interrupt) */
u32 read_flags(void);               /* pushf: the guest's EFLAGS (IF is bit 9) */

/* ---- port I/O ---- */
void outb(u16 port, u8 value);
u8 inb(u16 port);

/* ---- control registers ---- */
u32 read_cr0(void);

/* ---- descriptor tables ----
 * cpu_init loads the runtime's GDT (0x08 kernel code, 0x10 kernel data,
 * 0x1B user code, 0x23 user data, 0x28 TSS), kernel segments, an IDT whose
 * every vector reports "unexpected vector" and exits with status 3, and the
 * TSS. Call it before on_interrupt. */
void cpu_init(void);
void pic_mask(void);                /* mask every IRQ line of both 8259 PICs */
struct dtr { u16 limit; u32 base; } __attribute__((packed));
void lgdt(const struct dtr *d);
void lidt(const struct dtr *d);
void sgdt(struct dtr *d);
void sidt(struct dtr *d);

/* The registers of an interrupted context, as on_interrupt's handler sees
 * them; a handler may change them (eip to resume elsewhere, eax, ...). */
struct regs {
	u32 edi, esi, ebp, esp_unused, ebx, edx, ecx, eax; /* pushal */
	u32 vector, error;                                  /* error: 0 if the CPU pushed none */
	u32 eip, cs, eflags;                                /* the interrupt frame */
};
typedef void (*handler_t)(struct regs *r);

#define GATE_KERNEL 0x8E   /* interrupt gate reachable from ring 0 only */
#define GATE_USER   0xEE   /* reachable by int n from ring 3 too */

/* on_interrupt routes a vector (an exception 0-31, an IRQ, int n) to a C
 * handler through an IDT gate of type gate (GATE_KERNEL, GATE_USER). */
void on_interrupt(int vector, handler_t handler, int gate);
/* set_gate installs a raw IDT gate (handler: an assembly entry ending in iret). */
void set_gate(int vector, void (*entry)(void), int gate);

/* ---- the devices of virtsim's machine (and QEMU's) ---- */
#define PORT_POST     0x80   /* writes ignored: the cheapest I/O exit */
#define PORT_COM1     0x3F8
#define PORT_EXIT     0xF4   /* isa-debug-exit: exit() writes here */
#define PORT_PIC1_CMD 0x20
#define PORT_PIC1_DATA 0x21
#define PORT_PIT_CH0  0x40
#define PORT_PIT_CMD  0x43

/* ---- freestanding C needs these (gcc may call them for copies) ---- */
void *memcpy(void *d, const void *s, unsigned long n);
void *memset(void *d, int c, unsigned long n);
void *memmove(void *d, const void *s, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);

#endif
