/* sdk.c — the SDK's C part: interrupt dispatch to C handlers, and what a
 * freestanding compiler expects to find (memcpy and friends). Compiled for
 * both images; nothing here differs between them. */
#include "virtsim.h"

/* The name the runtime prints in its messages. */
const char rt_workload_name[] = "@NAME@";

extern char sdk_isr_stubs[]; /* sdk/pvops.s: 256 entries of 16 bytes */

static handler_t handlers[256];

void on_interrupt(int vector, handler_t handler, int gate)
{
	handlers[vector & 0xFF] = handler;
	set_gate(vector, (void (*)(void))(sdk_isr_stubs + 16 * (vector & 0xFF)), gate);
}

/* sdk_dispatch is called by the common interrupt entry (sdk/pvops.s). */
void sdk_dispatch(struct regs *r)
{
	if (handlers[r->vector & 0xFF]) {
		handlers[r->vector & 0xFF](r);
		return;
	}
	puts(rt_workload_name);
	puts(": no handler for vector 0x");
	put_hex(r->vector, 2);
	puts(" at eip=0x");
	put_hex(r->eip, 8);
	putc('\n');
	exit(3);
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	u8 *dp = d;
	const u8 *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, unsigned long n)
{
	u8 *dp = d;
	while (n--)
		*dp++ = (u8)c;
	return d;
}

void *memmove(void *d, const void *s, unsigned long n)
{
	u8 *dp = d;
	const u8 *sp = s;
	if (dp < sp)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, unsigned long n)
{
	const u8 *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}
