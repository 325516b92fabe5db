# iobitmap: ring3's kernel with a TSS whose I/O permission bitmap lets ring 3 use port 0x80
# and nothing else: in and out of 0x80 (immediate and DX forms) run, in from 0x81 faults, a
# word in from 0x80 faults (it needs 0x81's bit too), outsb to 0x81 faults. A VMM must answer
# from the guest's bitmap, not its own TSS's.
# ring3.S with IOBITMAP set holds the kernel.
	.set IOBITMAP, 1
	.include "ring3.S"
