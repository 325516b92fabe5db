/* @NAME@.c — a virtsim guest in C, made by `virtsim new-guest @NAME@`.
 *
 * It does a little of what every VMM strategy treats differently, n times
 * each (n from the command line: make run ARGS="n=100"):
 *   - cli/sti pairs        trap: 2 exits each; bt: none (in-TC); pv: none (shared-info)
 *   - out to port 0x80     an exit everywhere but native (pv: a hypercall)
 *   - a division by zero   the #DE goes to the C handler below
 * and prints what it saw. The same output on bare metal (make qemu) and
 * under every strategy (make run) is the test that the guest does not
 * notice the VMM. (Print (read_flags() >> 9) & 1 right after a cli() and
 * trap will differ: pushf shows the real IF at CPL 1, the x86 hole of
 * `virtsim lab 1`.)
 */
#include "virtsim.h"

static u32 faults;

/* #DE: count it and resume after the 2-byte div that faulted. */
static void divide_error(struct regs *r)
{
	faults++;
	r->eip += 2;
}

int main(void)
{
	u32 n = arg("n", 10);
	u32 i;

	cpu_init();                      /* GDT, IDT, TSS: needed for the #DE */
	pic_mask();                      /* no stray IRQs once interrupts are on */
	on_interrupt(0, divide_error, GATE_KERNEL);

	puts("@NAME@: hello from C, n=");
	put_dec(n);
	putc('\n');

	for (i = 0; i < n; i++) {
		cli();
		sti();
	}

	for (i = 0; i < n; i++)
		outb(PORT_POST, (u8)i);

	for (i = 0; i < n; i++) {
		u32 zero = 0, one = 1;
		/* divl %ecx is 2 bytes (f7 f1): the handler skips it */
		__asm__ volatile("divl %%ecx" : "+a"(one) : "c"(zero), "d"(0) : "cc");
	}

	puts("@NAME@: pairs=");
	put_dec(n);
	puts(" outs=");
	put_dec(n);
	puts(" faults=");
	put_dec(faults);
	putc('\n');
	return faults == n ? 0 : 1;
}
