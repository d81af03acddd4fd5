package pgstate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/stream"
	"github.com/courier-go/courier/stream/pgstate"
	"github.com/courier-go/courier/stream/statetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pool returns a pool on the test PostgreSQL and a schema of the test's own, dropped at cleanup.
func pool(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	url := testenv.Broker(t, testenv.PostgresURL, nil)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("%s: %v", testenv.PostgresURL, err)
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off" // contract tests only
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("stream_test_%x", rand.Uint64())
	if _, err := db.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
		db.Close()
	})
	return db, schema
}

func TestStore(t *testing.T) {
	db, schema := pool(t)
	s, err := pgstate.New(db, pgstate.Config{Schema: schema, Remember: statetest.MinRemember})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatalf("CreateTable again: %v", err)
	}
	// Every store of the suite is a new Store on the same table, as processes sharing it are.
	statetest.Run(t, func(t *testing.T) stream.Store {
		s, err := pgstate.New(db, pgstate.Config{Schema: schema, Remember: statetest.MinRemember})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConfig(t *testing.T) {
	if _, err := pgstate.New(nil, pgstate.Config{}); err == nil {
		t.Error("New(nil) = nil error")
	}
	if err := (pgstate.Config{Remember: -1}).Validate(); err == nil {
		t.Error("negative Remember accepted")
	}
}
