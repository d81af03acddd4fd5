package pgstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/pgstore"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the anchor
)

// The benchmarks compare pgstore with the algorithm most Go event stores use (hallgren's
// among them): in a transaction, read the stream's highest version, then insert each event
// under a UNIQUE (stream, version) constraint, through database/sql. Both run in the same
// database, with the server's durable commit settings (no synchronous_commit=off), 8
// writers each appending to its own streams. Run them side by side with:
//
//	cd eventsource/pgstore && COURIER_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    GOWORK=off go test -run '^$' -bench . -benchtime 400x
const benchWriters = 8

func benchDB(b *testing.B) (*pgxpool.Pool, *sql.DB, string) {
	url := testenv.Broker(b, testenv.PostgresURL, nil)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = benchWriters // as many connections as the anchor's database/sql pool
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(benchWriters)
	schema := fmt.Sprintf("es_bench_%x", rand.Uint64())
	b.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		_ = db.Close()
		pool.Close()
	})
	if err := pgstore.Migrate(ctx, pool, schema); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE `+schema+`.anchor_events (
		seq bigserial PRIMARY KEY, stream text NOT NULL, version bigint NOT NULL, id text NOT NULL,
		type text NOT NULL, data bytea NOT NULL, time timestamptz NOT NULL DEFAULT now(),
		UNIQUE (stream, version))`); err != nil {
		b.Fatal(err)
	}
	return pool, db, schema
}

// anchorAppend is the common algorithm: max version, then one INSERT per event.
func anchorAppend(ctx context.Context, db *sql.DB, schema, stream string, expected int64, events []eventsource.EventData) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+schema+`.anchor_events WHERE stream = $1`, stream).Scan(&current); err != nil {
		return err
	}
	if current != expected {
		return fmt.Errorf("conflict: stream %s at %d, expected %d", stream, current, expected)
	}
	for i, e := range events {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+schema+`.anchor_events (stream, version, id, type, data) VALUES ($1, $2, $3, $4, $5)`,
			stream, current+int64(i)+1, e.ID, e.Type, e.Data); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// runWriters runs b.N appends of size events on benchWriters goroutines, each writer on its
// own 16 streams in turn, tracking their versions, and reports appends/s and events/s.
func runWriters(b *testing.B, size int, appendFn func(ctx context.Context, stream string, expected int64, events []eventsource.EventData) error) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	prefix := fmt.Sprintf("bench-%x", rand.Uint64())
	data := []byte(`{"account":"acc-1","amount":100,"currency":"EUR"}`)
	b.ResetTimer()
	start := time.Now()
	for w := range benchWriters {
		wg.Go(func() {
			versions := make([]int64, 16)
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				k := i % len(versions)
				events := make([]eventsource.EventData, size)
				for j := range events {
					events[j] = eventsource.EventData{ID: fmt.Sprintf("%s-%d-%d-%d", prefix, w, i, j), Type: "Deposited", Data: data}
				}
				if err := appendFn(ctx, fmt.Sprintf("%s-%d-%d", prefix, w, k), versions[k], events); err != nil {
					errs <- err
					return
				}
				versions[k] += int64(size)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(b.N*size)/elapsed.Seconds(), "events/s")
}

func BenchmarkAppend(b *testing.B) {
	pool, db, schema := benchDB(b)
	store, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1, 10} {
		b.Run(fmt.Sprintf("events=%d/pgstore", size), func(b *testing.B) {
			runWriters(b, size, func(ctx context.Context, stream string, expected int64, events []eventsource.EventData) error {
				_, err := store.Append(ctx, stream, eventsource.Exact(expected), events...)
				return err
			})
		})
		b.Run(fmt.Sprintf("events=%d/maxversion-sql", size), func(b *testing.B) {
			runWriters(b, size, func(ctx context.Context, stream string, expected int64, events []eventsource.EventData) error {
				return anchorAppend(ctx, db, schema, stream, expected, events)
			})
		})
	}
}

// BenchmarkReadAll reads a store of 20,000 events from the start, one page (500 events) per
// operation, starting again at the end.
func BenchmarkReadAll(b *testing.B) {
	pool, _, schema := benchDB(b)
	store, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const total, page = 20000, pgstore.DefaultPageSize
	batch := make([]eventsource.EventData, 100)
	for i := range total / len(batch) {
		for j := range batch {
			batch[j] = eventsource.EventData{Type: "Deposited", Data: []byte(`{"amount":100}`)}
		}
		if _, err := store.Append(ctx, fmt.Sprintf("acc-%d", i%50), eventsource.Any, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	read := 0
	var pos eventsource.Position
	for b.Loop() {
		n := 0
		for e, err := range store.ReadAll(ctx, pos, eventsource.ReadAllOptions{Limit: page}) {
			if err != nil {
				b.Fatal(err)
			}
			pos = e.Position
			n++
		}
		if n < page {
			// The end (or another session's open transaction holding the read horizon back).
			pos = eventsource.Position{}
		}
		read += n
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "events/s")
}
