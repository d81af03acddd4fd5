package sidebyside

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 3}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// BenchmarkSelf compares an operation with a slower one: the reported ratio must say so.
func BenchmarkSelf(b *testing.B) {
	slow := func() { time.Sleep(time.Microsecond) }
	sum := 0
	Bench(b, 10, Side{"add", func() { sum++ }}, Side{"sleep", slow})
}
