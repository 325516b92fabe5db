package partition

// Stride1 is the stride of a VM with one share: a VM with k shares moves
// its pass by Stride1/k per slice.
const Stride1 = 1 << 20

// Stride is the pass increment per slice for a VM with shares tickets.
func Stride(shares int) uint64 {
	if shares < 1 {
		shares = 1
	}
	return Stride1 / uint64(shares)
}

// Next picks the runnable VM with the smallest pass, the lowest index on
// a tie; -1 if none is runnable. The decision alone, for testing.
func Next(pass []uint64, runnable []bool) int {
	best := -1
	for i := range pass {
		if runnable[i] && (best < 0 || pass[i] < pass[best]) {
			best = i
		}
	}
	return best
}
