# ring3io: ring3's kernel, but its ring-3 steps are user code the kernel copies into a
# buffer at run time (as a kernel loads a program), so no boot-time sweep of the image
# sees their I/O instructions; the TSS has no I/O bitmap (its base is past the limit):
#   - out to the RTC index port, then in from its data port: #GP at the out, which
#     must not reach the device (the in and the store after it never run)
#   - in from port 0x80 then a store: #GP at the in
#   - the same out again (code seen before): #GP
#   - out to port 0x80 with a hlt after it in the same block: #GP at the out
#     (the hlt, which would fault too, never runs)
# ring3.S with RUNTIME_COPY set holds the kernel.
	.set RUNTIME_COPY, 1
	.include "ring3.S"
