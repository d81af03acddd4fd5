package pgprojection_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/cqrs/cqrstest"
)

// BenchmarkCatchUp applies events to a PostgreSQL read model (two upserts per event) with
// the server's durable commit settings, one transaction per batch:
//
//	cd cqrs/pgprojection && COURIER_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    GOWORK=off go test -run '^$' -bench CatchUp -benchtime 5000x
func BenchmarkCatchUp(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			e := newEnv(b)
			src := cqrstest.NewSource()
			fill(src, b.N, 0)
			p := e.projection(b, src, cqrs.ProjectionConfig{BatchSize: batch})
			b.ResetTimer()
			n, err := p.CatchUp(context.Background())
			if err != nil || n != b.N {
				b.Fatalf("CatchUp = %d, %v", n, err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
