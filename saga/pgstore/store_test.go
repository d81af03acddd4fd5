package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/saga"
	"github.com/courier-go/courier/saga/pgstore"
	"github.com/courier-go/courier/saga/sagatest"
)

// newPool connects to COURIER_POSTGRES_URL (skipping without it), with synchronous_commit
// off when fast is set (contract tests; benchmarks keep the default).
func newPool(tb testing.TB, fast bool) *pgxpool.Pool {
	tb.Helper()
	url := testenv.Broker(tb, testenv.PostgresURL, nil)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	if fast {
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// newSchema creates a schema with a random name, dropped at the end of the test.
func newSchema(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "saga_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// newStore returns a store on a table in a fresh schema.
func newStore(tb testing.TB, pool *pgxpool.Pool) *pgstore.Store {
	tb.Helper()
	ctx := context.Background()
	schema := newSchema(tb, pool)
	s, err := pgstore.New(pool, pgstore.Config{Table: schema + ".sagas"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("second Migrate: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	pool := newPool(t, true)
	sagatest.Run(t, func(t *testing.T) saga.Store { return newStore(t, pool) })
}

func TestConfig(t *testing.T) {
	for _, table := range []string{"x;drop table y", "a.b.c", "1abc", "has space"} {
		if _, err := pgstore.New(&pgxpool.Pool{}, pgstore.Config{Table: table}); !errors.Is(err, courier.ErrInvalidConfig) {
			t.Errorf("New with table %q: %v, want ErrInvalidConfig", table, err)
		}
	}
	if _, err := pgstore.New(nil, pgstore.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("New with a nil pool: %v, want ErrInvalidConfig", err)
	}
}

// TestCrash kills orchestrators on this store with SIGKILL at every step (sagatest.RunCrash).
func TestCrash(t *testing.T) {
	sagatest.RunCrash(t, sagatest.CrashStore{
		Shared: true,
		Create: func(t *testing.T) string { return newSchema(t, newPool(t, true)) },
		Open: func(t *testing.T, schema string) saga.Store {
			s, err := pgstore.New(newPool(t, true), pgstore.Config{Table: schema + ".sagas"})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
