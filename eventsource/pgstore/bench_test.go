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

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/estest"
	"github.com/courier-go/courier/eventsource/pgstore"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the anchor
)

// The benchmarks compare pgstore with the algorithm most Go event stores use (hallgren's
// among them): in a transaction, read the stream's highest version, then insert each event
// under a UNIQUE (stream, version) constraint, through database/sql. Both run in the same
// database, with the server's durable commit settings (no synchronous_commit=off), 8
// writers each appending to its own streams, in alternating rounds of 100 appends (so that
// a shared machine's drifting load weighs on both alike). Run them with:
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

// side is one way of appending that the benchmark measures.
type side struct {
	name   string
	append func(ctx context.Context, stream string, expected int64, events []eventsource.EventData) error
	// the versions of each writer's 16 streams, kept across rounds
	versions [benchWriters][16]int64
	appends  int
	elapsed  time.Duration
}

// runRound makes n appends of size events on benchWriters goroutines, each writer on its
// own 16 streams in turn.
func (sd *side) runRound(b *testing.B, prefix string, n, size int) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	data := []byte(`{"account":"acc-1","amount":100,"currency":"EUR"}`)
	start := time.Now()
	for w := range benchWriters {
		wg.Go(func() {
			versions := &sd.versions[w]
			for i := 0; next.Add(1) <= int64(n); i++ {
				k := i % len(versions)
				events := make([]eventsource.EventData, size)
				now := time.Now()
				for j := range events {
					// UUIDv7s, as the store makes when the caller gives none
					events[j] = eventsource.EventData{ID: courier.NewID(now), Type: "Deposited", Data: data}
				}
				if err := sd.append(ctx, fmt.Sprintf("%s-%s-%d-%d", prefix, sd.name, w, k), versions[k], events); err != nil {
					errs <- err
					return
				}
				versions[k] += int64(size)
			}
		})
	}
	wg.Wait()
	sd.elapsed += time.Since(start)
	sd.appends += n
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// benchRound is how many appends a side makes before the next side's turn.
const benchRound = 100

// runSides makes b.N appends of size events on each side, in alternating rounds of
// benchRound appends, so that the load of a shared machine, which drifts, weighs on every
// side alike. It reports each side's appends/s and events/s, and the first side's ratio to
// each other side.
func runSides(b *testing.B, size int, sides ...*side) {
	prefix := fmt.Sprintf("bench-%x", rand.Uint64())
	b.ResetTimer()
	for done := 0; done < b.N; done += benchRound {
		for _, sd := range sides {
			sd.runRound(b, prefix, min(benchRound, b.N-done), size)
		}
	}
	b.StopTimer()
	rate := func(sd *side) float64 { return float64(sd.appends) / sd.elapsed.Seconds() }
	for _, sd := range sides {
		b.ReportMetric(rate(sd), sd.name+"-appends/s")
		b.ReportMetric(rate(sd)*float64(size), sd.name+"-events/s")
	}
	for _, sd := range sides[1:] {
		b.ReportMetric(rate(sides[0])/rate(sd), "x-"+sd.name)
	}
}

// BenchmarkAppend compares, for 1-event and 10-event appends, pgstore with the common
// algorithm through database/sql ("maxversion"); x-maxversion is pgstore's ratio.
func BenchmarkAppend(b *testing.B) {
	pool, db, schema := benchDB(b)
	store, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	for _, size := range []int{1, 10} {
		b.Run(fmt.Sprintf("events=%d", size), func(b *testing.B) {
			runSides(b, size,
				&side{name: "pgstore", append: func(ctx context.Context, stream string, expected int64, events []eventsource.EventData) error {
					_, err := store.Append(ctx, stream, eventsource.Exact(expected), events...)
					return err
				}},
				&side{name: "maxversion", append: func(ctx context.Context, stream string, expected int64, events []eventsource.EventData) error {
					return anchorAppend(ctx, db, schema, stream, expected, events)
				}})
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
	// ReadAll shows events once every older transaction of the server has ended: wait for
	// that, so that the figure is about reading, not about other sessions' transactions.
	if got := len(estest.ReadAllAtLeast(b, store, eventsource.Position{}, eventsource.ReadAllOptions{}, total)); got < total {
		b.Fatalf("only %d of %d events visible after 10 s: another session holds a transaction open", got, total)
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
