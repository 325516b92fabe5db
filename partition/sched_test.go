package partition

import "testing"

// Stride scheduling gives slices in proportion to shares (within one
// slice per VM), deterministically.
func TestStrideProportional(t *testing.T) {
	shares := []int{1, 2, 3, 6}
	pass := make([]uint64, len(shares))
	for i, s := range shares {
		pass[i] = Stride(s)
	}
	runnable := []bool{true, true, true, true}
	got := make([]int, len(shares))
	const slices = 1200
	for n := 0; n < slices; n++ {
		i := Next(pass, runnable)
		got[i]++
		pass[i] += Stride(shares[i])
	}
	total := 0
	for _, s := range shares {
		total += s
	}
	for i, s := range shares {
		want := slices * s / total
		if d := got[i] - want; d < -1 || d > 1 {
			t.Errorf("VM %d with %d shares ran %d slices, want %d±1", i, s, got[i], want)
		}
	}
	if Next(pass, []bool{false, false, false, false}) != -1 {
		t.Error("Next chose a VM when none is runnable")
	}
	if i := Next([]uint64{5, 3, 3}, []bool{true, true, true}); i != 1 {
		t.Errorf("tie broken towards %d, want the lower index 1", i)
	}
}
