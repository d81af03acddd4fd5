package pgstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/courier-go/courier/saga/sagatest"
)

// BenchmarkPostgres compares, side by side on the same PostgreSQL (default durability,
// synchronous_commit on), in b.N rounds that alternate the two:
//
//   - anchor: 8 goroutines committing one-row INSERTs, one per transaction: the stand-in for
//     the event store's 1-event append rate (a plain INSERT is cheaper than an event-store
//     append, so the comparison is strict); 2,400 inserts per round.
//   - saga: an orchestrator with 8 workers running 3-step sagas with trivial actions (and 2
//     goroutines starting them); every step is one compare-and-set transition; 800 sagas
//     (2,400 transitions) per round. Each saga also costs its Start (an INSERT), not counted.
//
// It reports the medians over the rounds of inserts/s, transitions/s and their ratio
// (transitions/insert), and of the saga side's writes/s with its starts counted (one per
// saga) and that ratio (writes/insert). Run:
//
//	cd saga/pgstore && COURIER_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  GOWORK=off go test -run '^$' -bench Postgres -benchtime 5x
func BenchmarkPostgres(b *testing.B) {
	const workers, inserts, sagas = 8, 2400, 800
	pool := newPool(b, false)
	ctx := context.Background()
	table := newSchema(b, pool) + ".anchor"
	if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (id bigserial PRIMARY KEY, stream text NOT NULL, payload bytea)"); err != nil {
		b.Fatal(err)
	}
	var anchor, steps, writes, ratio, writesRatio []float64
	b.ResetTimer()
	for range b.N {
		a, err := insertRate(ctx, pool, table, workers, inserts)
		if err != nil {
			b.Fatal(err)
		}
		r, err := sagatest.Throughput(ctx, newStore(b, pool), workers, sagas)
		if err != nil {
			b.Fatal(err)
		}
		t, w := r.TransitionsPerSecond(), r.WritesPerSecond()
		b.Logf("round: anchor %.0f inserts/s, saga %.0f transitions/s (%.2fx), %.0f writes/s with starts (%.2fx)", a, t, t/a, w, w/a)
		anchor, steps, writes = append(anchor, a), append(steps, t), append(writes, w)
		ratio, writesRatio = append(ratio, t/a), append(writesRatio, w/a)
	}
	b.StopTimer()
	b.ReportMetric(median(anchor), "inserts/s")
	b.ReportMetric(median(steps), "transitions/s")
	b.ReportMetric(median(ratio), "transitions/insert")
	b.ReportMetric(median(writes), "writes/s")
	b.ReportMetric(median(writesRatio), "writes/insert")
	b.ReportMetric(0, "ns/op")
}

// insertRate commits n one-row INSERTs from the given number of goroutines and returns
// inserts per second.
func insertRate(ctx context.Context, pool *pgxpool.Pool, table string, workers, n int) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := pool.Exec(ctx, "INSERT INTO "+table+" (stream, payload) VALUES ($1, $2)", fmt.Sprint("s", w), []byte(`{"n":1}`)); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
