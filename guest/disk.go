package guest

// The default disk of the workloads that use one (Workload.DiskSectors):
// DiskContents(n), the same bytes for every run, so a checksum the guest
// computes over them is a fixed number QEMU prints too (the oracle boots
// them as -drive file=IMG,format=raw,if=ide).

// DiskContents returns a disk of sectors 512-byte sectors whose byte i is
// a fixed function of i (an xorshift stream).
func DiskContents(sectors int) []byte {
	b := make([]byte, sectors*512)
	x := uint32(0x2545F491)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// QEMUDiskArgs are the arguments that attach a raw disk image file as the
// IDE master, as the oracle tests do.
func QEMUDiskArgs(path string) []string {
	return []string{"-drive", "file=" + path + ",format=raw,if=ide"}
}
