package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier/saga/sagatest"
)

// BenchmarkPostgres compares, in one run on the same PostgreSQL (default durability,
// synchronous_commit on):
//
//   - insert-anchor: 8 goroutines each committing one-row INSERTs, one per transaction: the
//     stand-in for the event store's 1-event append rate; reported as inserts/s.
//   - saga-3step-8workers: an orchestrator with 8 workers running 3-step sagas (trivial
//     actions); every step is one compare-and-set transition; reported as transitions/s.
//     Each saga also costs a Start (INSERT; a Claim too when no worker was idle), not counted.
//
// Run: cd saga/pgstore && COURIER_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
// GOWORK=off go test -run '^$' -bench Postgres -benchtime 2000x
func BenchmarkPostgres(b *testing.B) {
	pool := newPool(b, false)
	const workers = 8
	b.Run("insert-anchor", func(b *testing.B) {
		ctx := context.Background()
		table := newSchema(b, pool) + ".anchor"
		if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (id bigserial PRIMARY KEY, stream text NOT NULL, payload bytea)"); err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if _, err := pool.Exec(ctx, "INSERT INTO "+table+" (stream, payload) VALUES ($1, $2)", fmt.Sprint("s", w), []byte(`{"n":1}`)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "inserts/s")
	})
	b.Run("saga-3step-8workers", func(b *testing.B) {
		s := newStore(b, pool)
		sagatest.Benchmark(b, s, workers)
	})
}
