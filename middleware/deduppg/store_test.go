package deduppg_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware"
	"github.com/courier-go/courier/middleware/deduppg"
	"github.com/courier-go/courier/middleware/deduptest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func newStore(t *testing.T) (*deduppg.Store, *pgxpool.Pool) {
	t.Helper()
	_, pool, schema := newInbox(t, "billing")
	s, err := deduppg.NewStore(pool, deduppg.StoreConfig{Consumer: "billing", Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func TestStoreSuite(t *testing.T) {
	deduptest.Run(t, func(t *testing.T) middleware.Store { s, _ := newStore(t); return s },
		deduptest.Options{Lease: 150 * time.Millisecond})
}

func TestStoreConfig(t *testing.T) {
	if _, err := deduppg.NewStore(nil, deduppg.StoreConfig{Consumer: "g"}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil DB: %v", err)
	}
	var pool *pgxpool.Pool
	if _, err := deduppg.NewStore(pool, deduppg.StoreConfig{}); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "Consumer") {
		t.Errorf("empty Consumer: %v", err)
	}
}

func TestStoreDeleteExpired(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	_, tok, err := s.Claim(ctx, "short", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "short", tok, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Claim(ctx, "long", time.Hour); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for { // the database's clock passes the millisecond TTL
		n, err := s.DeleteExpired(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if n != 0 || time.Now().After(deadline) {
			t.Fatalf("DeleteExpired = %d, want the one expired row", n)
		}
	}
	if st, _, _ := s.Claim(ctx, "long", time.Hour); st != middleware.Busy {
		t.Fatalf("the live claim: %v, want busy", st)
	}
}
