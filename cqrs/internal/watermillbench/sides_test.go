package watermillbench

import (
	"context"
	"testing"
)

// TestSides checks that every side of the benchmark gets events to its handler, so that a
// broken side fails the tests rather than the benchmark.
func TestSides(t *testing.T) {
	ctx := context.Background()
	for _, mk := range []func(context.Context, testing.TB) side{courierSide, rawSide(true), rawSide(false), watermillSide(0), watermillSide(16)} {
		s := mk(ctx, t)
		for range 2 {
			if err := s.round(100); err != nil {
				t.Errorf("%s: %v", s.name, err)
			}
		}
		s.close()
	}
}
