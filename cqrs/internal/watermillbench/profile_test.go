package watermillbench

import (
	"context"
	"testing"
)

// BenchmarkCourierCQRS runs only the courier-cqrs side, for profiling.
func BenchmarkCourierCQRS(b *testing.B) { benchSide(b, courierSide) }

// BenchmarkCourierRaw runs only the courier-raw side, for profiling.
func BenchmarkCourierRaw(b *testing.B) { benchSide(b, rawSide(true)) }

func benchSide(b *testing.B, mk func(context.Context, testing.TB) side) {
	s := mk(context.Background(), b)
	defer s.close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.round(1000); err != nil {
			b.Fatal(err)
		}
	}
}
