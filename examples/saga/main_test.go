package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/courier-go/courier/internal/testenv"
)

const want = `== order-1
  stock reserved for order-1
  payment service charged order-1 (command ID order-1/charge-payment)
  shipped order-1
order-1: completed
== order-2-bad-address
  stock reserved for order-2-bad-address
  payment service charged order-2-bad-address (command ID order-2-bad-address/charge-payment)
  shipping refused order-2-bad-address
  payment refunded for order-2-bad-address
  stock released for order-2-bad-address
order-2-bad-address: compensated (address not deliverable)
`

var runSuffix = regexp.MustCompile(`-[0-9]{10,}/`) // of IDs on a real broker and database

func check(t *testing.T, opt options) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, opt); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := runSuffix.ReplaceAllString(out.String(), "/"); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestRun runs the example as `go run .` does by default: memory store, memory broker.
func TestRun(t *testing.T) {
	check(t, options{broker: "memory://"})
}

// TestRunPostgresRedis runs it with the sagas in PostgreSQL and the commands on Redis Streams.
func TestRunPostgresRedis(t *testing.T) {
	pg := testenv.Broker(t, testenv.PostgresURL, nil)
	redis := testenv.Broker(t, testenv.RedisURL, nil)
	var b [6]byte
	_, _ = rand.Read(b[:])
	table := "saga_example_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		pool, err := pgxpool.New(context.Background(), pg)
		if err != nil {
			t.Error(err)
			return
		}
		defer pool.Close()
		if _, err := pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	run := fmt.Sprint(time.Now().UnixNano())
	t.Cleanup(func() { deleteKeys(t, redis, "*"+run+"*") })
	check(t, options{broker: redis, pg: pg, pgTable: table, runID: run})
}

// deleteKeys deletes the Redis keys matching pattern (the run's streams).
func deleteKeys(t *testing.T, url, pattern string) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, pattern).Result()
	if err == nil && len(keys) > 0 {
		err = rdb.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Errorf("deleting %s: %v", pattern, err)
	}
}

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
