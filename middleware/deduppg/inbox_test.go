package deduppg_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/middleware/deduppg"
	"github.com/courier-go/courier/middleware/deduptest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// newInbox returns an inbox in a schema of its own (dropped at cleanup) with an effects
// table (id text, n int) that handlers write to, and the pool.
func newInbox(t *testing.T, consumer string) (*deduppg.Inbox, *pgxpool.Pool, string) {
	t.Helper()
	url := testenv.Broker(t, testenv.PostgresURL, nil)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 12
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off" // contract tests only
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("inbox_test_%x", rand.Uint64())
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA `+schema+`; CREATE TABLE `+schema+`.effects (id text NOT NULL, n int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		pool.Close()
	})
	in, err := deduppg.New(pool, deduppg.Config{Consumer: consumer, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := in.CreateTable(t.Context()); err != nil { // idempotent
		t.Fatal(err)
	}
	return in, pool, schema
}

// effects returns how many effect rows each message ID has.
func effects(t *testing.T, pool *pgxpool.Pool, schema string) map[string]int {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT id, count(*) FROM `+schema+`.effects GROUP BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		got[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func writeEffect(schema string) deduppg.TxHandler {
	return func(ctx context.Context, tx pgx.Tx, msg courier.Message) error {
		_, err := tx.Exec(ctx, `INSERT INTO `+schema+`.effects (id, n) VALUES ($1, 1)`, msg.ID)
		return err
	}
}

func mustHandler(t *testing.T, in *deduppg.Inbox, h deduppg.TxHandler) courier.MessageHandler {
	t.Helper()
	mh, err := in.Handler(h)
	if err != nil {
		t.Fatal(err)
	}
	return mh
}

func TestConfig(t *testing.T) {
	if _, err := deduppg.New(nil, deduppg.Config{Consumer: "g"}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil DB: %v", err)
	}
	var pool *pgxpool.Pool
	if _, err := deduppg.New(pool, deduppg.Config{}); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "Consumer") {
		t.Errorf("empty Consumer: %v", err)
	}
}

func TestDuplicatesApplyOnce(t *testing.T) {
	in, pool, schema := newInbox(t, "billing")
	h := mustHandler(t, in, writeEffect(schema))
	msg := courier.Message{ID: "order-1", Topic: "orders"}
	for range 3 {
		if err := h.HandleMessage(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if got := effects(t, pool, schema); got["order-1"] != 1 {
		t.Fatalf("effects %v, want order-1 once", got)
	}
	if ok, err := in.Handled(t.Context(), "order-1"); !ok || err != nil {
		t.Fatalf("Handled = %v, %v", ok, err)
	}
	// Another group sharing the table has its own keys.
	other, err := deduppg.New(pool, deduppg.Config{Consumer: "audit", Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := other.Handled(t.Context(), "order-1"); ok {
		t.Fatal("the audit group sees billing's key")
	}
	if err := mustHandler(t, other, writeEffect(schema)).HandleMessage(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if got := effects(t, pool, schema); got["order-1"] != 2 {
		t.Fatalf("effects %v, want order-1 once per group", got)
	}
}

func TestFailureRollsBackBoth(t *testing.T) {
	in, pool, schema := newInbox(t, "billing")
	boom := errors.New("boom")
	calls := 0
	h := mustHandler(t, in, func(ctx context.Context, tx pgx.Tx, msg courier.Message) error {
		calls++
		if err := writeEffect(schema)(ctx, tx, msg); err != nil {
			return err
		}
		switch calls {
		case 1:
			return boom // after writing: the write must go
		case 2:
			panic("crash") // likewise
		}
		return nil
	})
	msg := courier.Message{ID: "order-1", Topic: "orders"}
	if err := h.HandleMessage(t.Context(), msg); err != boom {
		t.Fatalf("err = %v, want the handler's", err)
	}
	func() {
		defer func() { recover() }()
		h.HandleMessage(t.Context(), msg)
		t.Error("no panic")
	}()
	if got := effects(t, pool, schema); len(got) != 0 {
		t.Fatalf("effects %v after a failure and a panic, want none", got)
	}
	if ok, _ := in.Handled(t.Context(), "order-1"); ok {
		t.Fatal("a failed message is recorded as handled")
	}
	if err := h.HandleMessage(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if err := h.HandleMessage(t.Context(), msg); err != nil || calls != 3 {
		t.Fatalf("duplicate: err %v, calls %d; want nil, 3", err, calls)
	}
	if got := effects(t, pool, schema); got["order-1"] != 1 {
		t.Fatalf("effects %v, want order-1 once", got)
	}
}

// TestConcurrentCopiesApplyOnce: copies of each message reach several consumers at once,
// some attempts fail at random, and every message's effect is applied exactly once.
func TestConcurrentCopiesApplyOnce(t *testing.T) {
	in, pool, schema := newInbox(t, "billing")
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	h := mustHandler(t, in, func(ctx context.Context, tx pgx.Tx, msg courier.Message) error {
		if err := writeEffect(schema)(ctx, tx, msg); err != nil {
			return err
		}
		mu.Lock()
		fail := rng.IntN(4) == 0
		mu.Unlock()
		if fail {
			return errors.New("flaky")
		}
		return nil
	})
	const messages, copies = 40, 4
	var wg sync.WaitGroup
	for i := range messages {
		msg := courier.Message{ID: fmt.Sprintf("m%d", i), Topic: "orders"}
		for range copies {
			wg.Go(func() {
				for ctx := t.Context(); ctx.Err() == nil; { // each copy is redelivered until acknowledged
					if h.HandleMessage(ctx, msg) == nil {
						return
					}
				}
			})
		}
	}
	wg.Wait()
	got := effects(t, pool, schema)
	for i := range messages {
		if n := got[fmt.Sprintf("m%d", i)]; n != 1 {
			t.Errorf("m%d applied %d times, want 1", i, n)
		}
	}
	if len(got) != messages {
		t.Errorf("%d messages applied, want %d", len(got), messages)
	}
}

// TestOnBroker: the inbox under two consumers of the memory broker with Concurrency 4, fed
// each message twice by the producer.
func TestOnBroker(t *testing.T) {
	in, pool, schema := newInbox(t, "billing")
	const n = 30
	deduptest.DeliverTwice(t, mustHandler(t, in, writeEffect(schema)), n)
	got := effects(t, pool, schema)
	for i := range n {
		if got[fmt.Sprintf("m%d", i)] != 1 {
			t.Errorf("m%d applied %d times", i, got[fmt.Sprintf("m%d", i)])
		}
	}
}

func TestPurge(t *testing.T) {
	in, _, schema := newInbox(t, "billing")
	h := mustHandler(t, in, writeEffect(schema))
	for i := range 3 {
		if err := h.HandleMessage(t.Context(), courier.Message{ID: fmt.Sprint(i), Topic: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := in.Purge(t.Context(), time.Now().Add(-time.Hour)); n != 0 || err != nil {
		t.Fatalf("Purge of rows older than an hour: %d, %v", n, err)
	}
	if n, err := in.Purge(t.Context(), time.Now().Add(time.Minute)); n != 3 || err != nil {
		t.Fatalf("Purge of all: %d, %v; want 3", n, err)
	}
	if ok, _ := in.Handled(t.Context(), "0"); ok {
		t.Fatal("purged key still handled")
	}
}

func TestEmptyKey(t *testing.T) {
	var pool *pgxpool.Pool
	in, err := deduppg.New(pool, deduppg.Config{Consumer: "g", Key: func(courier.Message) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	h := mustHandler(t, in, func(context.Context, pgx.Tx, courier.Message) error { return nil })
	if err := h.HandleMessage(t.Context(), courier.Message{ID: "x", Topic: "t"}); !errors.Is(err, deduppg.ErrEmptyKey) {
		t.Fatalf("err = %v", err)
	}
	if _, err := in.Handler(nil); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Fatalf("nil handler: %v", err)
	}
}
