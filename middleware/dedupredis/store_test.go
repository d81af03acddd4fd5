package dedupredis_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/middleware"
	"github.com/courier-go/courier/middleware/dedupredis"
	"github.com/courier-go/courier/middleware/deduptest"
	"github.com/redis/go-redis/v9"
)

// newClient returns a client of the Redis named by COURIER_REDIS_URL and a random prefix
// whose keys are deleted at cleanup.
func newClient(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := testenv.Broker(t, testenv.RedisURL, nil)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	prefix := fmt.Sprintf("courier-test:dedup:%x:", rand.Uint64())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return rdb, prefix
}

func TestStoreSuite(t *testing.T) {
	deduptest.Run(t, func(t *testing.T) middleware.Store {
		rdb, prefix := newClient(t)
		s, err := dedupredis.New(rdb, dedupredis.Config{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, deduptest.Options{Lease: 150 * time.Millisecond})
}

func TestConfig(t *testing.T) {
	if _, err := dedupredis.New(nil, dedupredis.Config{Prefix: "p:"}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil client: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	if _, err := dedupredis.New(rdb, dedupredis.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("empty prefix: %v", err)
	}
}

func TestKeyLayout(t *testing.T) {
	rdb, prefix := newClient(t)
	s, err := dedupredis.New(rdb, dedupredis.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, tok, err := s.Claim(ctx, "order-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, prefix+"order-1").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("claimed key's TTL %v, want the lease", ttl)
	}
	if err := s.Commit(ctx, "order-1", tok, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, prefix+"order-1").Val(); ttl <= time.Minute || ttl > time.Hour {
		t.Fatalf("committed key's TTL %v, want the TTL", ttl)
	}
	if v := rdb.Get(ctx, prefix+"order-1").Val(); v[:2] != "d:" {
		t.Fatalf("committed value %q, want d:<token>", v)
	}
}

func TestRedisDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	s, err := dedupredis.New(rdb, dedupredis.Config{Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Claim(t.Context(), "k", time.Second); err == nil {
		t.Fatal("Claim against no Redis succeeded")
	}
}

// TestDedupAcrossProcesses: two consumers in different processes (two clients) get the same
// message at once; the handler runs once, and the copy is acknowledged after the commit.
func TestDedupAcrossProcesses(t *testing.T) {
	rdbA, prefix := newClient(t)
	rdbB, _ := newClient(t)
	var runs atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	handler := courier.HandlerFunc(func(context.Context, courier.Message) error {
		runs.Add(1)
		entered <- struct{}{}
		<-release
		return nil
	})
	mk := func(rdb *redis.Client) courier.MessageHandler {
		s, err := dedupredis.New(rdb, dedupredis.Config{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		m, err := middleware.Dedup(middleware.DedupConfig{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		return m(handler)
	}
	a, b := mk(rdbA), mk(rdbB)
	msg := courier.Message{ID: "order-1", Topic: "orders"}
	errA := make(chan error, 1)
	go func() { errA <- a.HandleMessage(t.Context(), msg) }()
	<-entered // a holds the claim and runs the handler
	if err := b.HandleMessage(t.Context(), msg); !errors.Is(err, middleware.ErrInProgress) {
		t.Fatalf("b while a handles the message: %v, want ErrInProgress", err)
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	if err := b.HandleMessage(t.Context(), msg); err != nil {
		t.Fatalf("b's redelivery: %v", err)
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
}
