package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/aggregate"
	"github.com/courier-go/courier/eventsource/estest"
	"github.com/courier-go/courier/eventsource/pgstore"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testDB returns a pool on the test PostgreSQL (contract tests run with
// synchronous_commit=off for speed) and a new schema migrated in it, dropped at cleanup.
func testDB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := testenv.Broker(t, testenv.PostgresURL, nil)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("%s: %v", testenv.PostgresURL, err)
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	cfg.MaxConns = 24
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("es_test_%x", rand.Uint64())
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		pool.Close()
	})
	if err := pgstore.Migrate(ctx, pool, schema); err != nil {
		t.Fatal(err)
	}
	return pool, schema
}

func newStore(t testing.TB) (*pgstore.Store, *pgxpool.Pool) {
	pool, schema := testDB(t)
	s, err := pgstore.New(pool, pgstore.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	return s, pool
}

// appendDelayed appends in a transaction of its own with AppendTx and keeps it open for
// delay before committing: late commits for the follower test.
func appendDelayed(ctx context.Context, st eventsource.Store, delay time.Duration, stream string, exp eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	s := st.(*pgstore.Store)
	for {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			return eventsource.AppendResult{}, err
		}
		res, err := s.AppendTx(ctx, tx, stream, exp, events...)
		var ce *eventsource.ConflictError
		if errors.As(err, &ce) && ce.Reason != "" {
			_ = tx.Rollback(ctx) // older than the stream's last append: again, in a new transaction
			continue
		}
		if err != nil {
			_ = tx.Rollback(ctx)
			return res, err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		return res, tx.Commit(ctx)
	}
}

func TestAcceptance(t *testing.T) {
	estest.Run(t, estest.Backend{
		New: func(t testing.TB) eventsource.Store {
			s, _ := newStore(t)
			return s
		},
		AppendDelayed: appendDelayed,
		Snapshots:     func(_ testing.TB, s eventsource.Store) aggregate.SnapshotStore { return s.(*pgstore.Store) },
		Checkpoints:   func(_ testing.TB, s eventsource.Store) eventsource.CheckpointStore { return s.(*pgstore.Store) },
		Lease: func(_ testing.TB, s eventsource.Store) eventsource.Lease {
			return pgstore.AdvisoryLease{Pool: s.(*pgstore.Store).Pool(), CheckEvery: 5 * time.Millisecond}
		},
	})
}

func TestMigrateTwice(t *testing.T) {
	pool, schema := testDB(t)
	if err := pgstore.Migrate(t.Context(), pool, schema); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
	if err := pgstore.Migrate(t.Context(), pool, "Bad-Name"); err == nil || !strings.Contains(err.Error(), "Bad-Name") {
		t.Errorf("Migrate with a bad schema name: %v", err)
	}
}

// TestReadAllWaitsForLateCommit: an event whose transaction commits after one with a higher
// sequence number is read, and before it, not skipped.
func TestReadAllWaitsForLateCommit(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	slow, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx) //nolint:errcheck
	if _, err := s.AppendTx(ctx, slow, "slow", eventsource.NoStream, eventsource.EventData{ID: "late", Type: "T"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "fast", eventsource.NoStream, eventsource.EventData{ID: "early", Type: "T"}); err != nil {
		t.Fatal(err)
	}
	got, err := eventsource.Collect(s.ReadAll(ctx, eventsource.Position{}, eventsource.ReadAllOptions{}))
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadAll while an older transaction is open = %d events, %v; want none (they are behind the horizon)", len(got), err)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got = estest.ReadAllAtLeast(t, s, eventsource.Position{}, eventsource.ReadAllOptions{}, 2)
	if len(got) != 2 || got[0].ID != "late" || got[1].ID != "early" {
		t.Fatalf("ReadAll after commit = %v; want late then early", got)
	}
}

// TestAppendTxOlderTransactionRefused: a caller's transaction that began writing before
// another transaction appended to the stream may not append behind it.
func TestAppendTxOlderTransactionRefused(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	if _, err := s.Append(ctx, "acc", eventsource.NoStream, eventsource.EventData{Type: "Opened"}); err != nil {
		t.Fatal(err)
	}
	old, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback(ctx)                                                 //nolint:errcheck
	if _, err := old.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil { // takes its transaction ID now
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "acc", eventsource.Exact(1), eventsource.EventData{Type: "Deposited"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendTx(ctx, old, "acc", eventsource.Any, eventsource.EventData{Type: "Withdrawn"})
	var ce *eventsource.ConflictError
	if !errors.As(err, &ce) || ce.Actual != 2 || !strings.Contains(ce.Reason, "older") {
		t.Fatalf("AppendTx in an older transaction: %v, want a conflict saying the transaction is older", err)
	}
	_ = old.Rollback(ctx)
	if all := estest.ReadAllAtLeast(t, s, eventsource.Position{}, eventsource.ReadAllOptions{}, 2); len(all) != 2 || all[1].Type != "Deposited" {
		t.Fatalf("ReadAll = %v; want Opened, Deposited", all)
	}
}

// TestAppendTxAtomicWithCallerWrites: events appended with AppendTx are stored with the
// caller's other writes, or not at all.
func TestAppendTxAtomicWithCallerWrites(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, "CREATE TABLE "+pgx.Identifier{s.Schema(), "orders"}.Sanitize()+" (id text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for _, commit := range []bool{false, true} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprint("order-", commit)
		if _, err := tx.Exec(ctx, "INSERT INTO "+pgx.Identifier{s.Schema(), "orders"}.Sanitize()+" VALUES ($1)", id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendTx(ctx, tx, id, eventsource.NoStream, eventsource.EventData{Type: "Placed"}); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		evs, err := eventsource.Collect(s.ReadStream(ctx, id, eventsource.ReadOptions{}))
		if err != nil || (len(evs) == 1) != commit {
			t.Errorf("commit %v: stream has %d events (%v)", commit, len(evs), err)
		}
	}
	if _, err := s.AppendTx(ctx, nil, "x", eventsource.Any, eventsource.EventData{Type: "T"}); err == nil {
		t.Error("AppendTx with a nil transaction accepted")
	}
}

// TestOtherErrorsAreNotConflicts: a failure that is not about versions is not reported as
// a conflict.
func TestOtherErrorsAreNotConflicts(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Append(ctx, "s", eventsource.Any, eventsource.EventData{Type: "T"})
	if err == nil || errors.Is(err, eventsource.ErrConcurrencyConflict) || !errors.Is(err, context.Canceled) {
		t.Errorf("append with a cancelled context: %v, want context.Canceled and no conflict", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []pgstore.Config{{Schema: "x;drop"}, {PageSize: -1}} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", cfg)
		}
	}
	if _, err := pgstore.New(nil, pgstore.Config{}); err == nil {
		t.Error("New(nil pool) accepted")
	}
}

// TestAdvisoryLease: exclusive, and lost when the holder's connection dies (the server
// then drops the lock).
func TestAdvisoryLease(t *testing.T) {
	_, pool := newStore(t)
	estest.RunLease(t, pgstore.AdvisoryLease{Pool: pool, CheckEvery: 20 * time.Millisecond}, func(t *testing.T, name string) {
		var pid int
		if err := pool.QueryRow(t.Context(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`, name).Scan(&pid); err != nil {
			t.Fatalf("find the lock holder: %v", err)
		}
		if _, err := pool.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatal(err)
		}
	}, "connection lost")
}

func TestSnapshots(t *testing.T) {
	s, _ := newStore(t)
	estest.RunSnapshots(t, s)
}

// TestAppendTxRepeatableReadIsNotAConflict: under REPEATABLE READ, a concurrent append makes
// PostgreSQL fail the statement with a serialization error, which is returned as it is, not
// as a conflict.
func TestAppendTxRepeatableReadIsNotAConflict(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	if _, err := s.Append(ctx, "rr", eventsource.NoStream, eventsource.EventData{Type: "T"}); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)                              //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil { // takes the snapshot
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "rr", eventsource.Any, eventsource.EventData{Type: "T"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendTx(ctx, tx, "rr", eventsource.Any, eventsource.EventData{Type: "T"})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "40001" || errors.Is(err, eventsource.ErrConcurrencyConflict) {
		t.Errorf("AppendTx under REPEATABLE READ after a concurrent append: %v, want the serialization error (40001), not a conflict", err)
	}
}
