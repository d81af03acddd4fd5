// Package sidebyside times an operation against its anchor in alternating rounds, so that a
// change in the machine's load during a benchmark touches both alike. The middleware
// benchmarks use it to report how far each middleware is from the library it wraps.
package sidebyside

import (
	"slices"
	"testing"
	"time"
)

// Side is one of the operations compared.
type Side struct {
	Name string
	Op   func()
}

// Bench runs b.N rounds; in each, every side runs ops times in turn (the order rotating from
// round to round). It reports, for each side, the median over the rounds of its ns per
// operation ("<name>-ns/op"), and for each side after the first the median of its per-round
// difference to the first side ("<name>-delta-ns") and of its per-round ratio to it
// ("<name>/<first>"). Run it with -benchtime Nx to choose the number of rounds.
func Bench(b *testing.B, ops int, sides ...Side) {
	b.Helper()
	if len(sides) < 2 || ops < 1 {
		b.Fatal("sidebyside: need at least two sides and one operation per round")
	}
	for _, s := range sides { // warm up
		for range ops {
			s.Op()
		}
	}
	per := make([][]float64, len(sides)) // side -> ns/op of each round
	b.ResetTimer()
	for round := 0; b.Loop(); round++ {
		for k := range sides {
			i := (k + round) % len(sides)
			start := time.Now()
			for range ops {
				sides[i].Op()
			}
			per[i] = append(per[i], float64(time.Since(start).Nanoseconds())/float64(ops))
		}
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op") // the loop's own figure mixes the sides: meaningless here
	for i, s := range sides {
		b.ReportMetric(median(per[i]), s.Name+"-ns/op")
		if i == 0 {
			continue
		}
		deltas, ratios := make([]float64, len(per[i])), make([]float64, len(per[i]))
		for r := range per[i] {
			deltas[r] = per[i][r] - per[0][r]
			ratios[r] = per[i][r] / per[0][r]
		}
		b.ReportMetric(median(deltas), s.Name+"-delta-ns")
		b.ReportMetric(median(ratios), s.Name+"/"+sides[0].Name)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
