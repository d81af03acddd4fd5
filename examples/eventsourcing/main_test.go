package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/courier-go/courier/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func check(t *testing.T, cfg config) {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), cfg, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"bob's withdrawal refused: withdraw 50 from a balance of 0: insufficient funds",
		"outbox relay published 24 events",
		"alice: balance 70 (read model 70), version 3",
		"bob: balance 200 (read model 200), version 21",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestInMemory(t *testing.T) {
	check(t, config{broker: "memory://"})
}

func TestPostgresAndRedis(t *testing.T) {
	pg := testenv.Broker(t, testenv.PostgresURL, nil)
	schema := fmt.Sprintf("bank_example_test_%x", rand.Uint64())
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), pg)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	broker := "memory://"
	prefix := fmt.Sprintf("bank-test-%x-", rand.Uint64())
	if url := os.Getenv(testenv.RedisURL); url != "" {
		broker = url
		t.Cleanup(func() { deleteKeys(t, url, prefix+"*") })
	}
	check(t, config{prefix: prefix, postgres: pg, schema: schema, broker: broker})
}

// deleteKeys deletes the Redis keys the broker made for the run's topic.
func deleteKeys(t *testing.T, url, pattern string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, pattern).Result()
	if err == nil && len(keys) > 0 {
		err = rdb.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Errorf("delete keys %s: %v", pattern, err)
	}
}
