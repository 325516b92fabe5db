package experiments

import "testing"

func BenchmarkZZMatrix(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Matrix(Options{Reps: 3, Workers: 2}); err != nil {
			b.Fatal(err)
		}
	}
}
