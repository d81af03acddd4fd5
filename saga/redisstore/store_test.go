package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/saga"
	"github.com/courier-go/courier/saga/redisstore"
	"github.com/courier-go/courier/saga/sagatest"
)

func newClient(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(testenv.Broker(tb, testenv.RedisURL, nil))
	if err != nil {
		tb.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// newStore returns a store under a random prefix whose keys are deleted at the end of the test.
func newStore(tb testing.TB, rdb *redis.Client) *redisstore.Store {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := openStore(tb, rdb, "{sagatest-"+hex.EncodeToString(b[:])+"}:")
	tb.Cleanup(func() {
		ctx := context.Background()
		keys, err := rdb.Keys(ctx, s.KeyPattern()).Result()
		if err == nil && len(keys) > 0 {
			err = rdb.Del(ctx, keys...).Err()
		}
		if err != nil {
			tb.Errorf("deleting the test's keys: %v", err)
		}
	})
	return s
}

func openStore(tb testing.TB, rdb *redis.Client, prefix string) *redisstore.Store {
	tb.Helper()
	s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	rdb := newClient(t)
	sagatest.Run(t, func(t *testing.T) saga.Store { return newStore(t, rdb) })
}

func TestNewRefusesNilClient(t *testing.T) {
	if _, err := redisstore.New(nil, redisstore.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Fatalf("New(nil): %v, want ErrInvalidConfig", err)
	}
}

// BenchmarkRedisStore: 3-step sagas with 8 workers, in transitions/s
// (COURIER_REDIS_URL=redis://127.0.0.1:6379/0 GOWORK=off go test -run '^$' -bench . -benchtime 5000x).
func BenchmarkRedisStore(b *testing.B) {
	sagatest.Benchmark(b, newStore(b, newClient(b)), 8)
}

// TestCrash kills orchestrators on this store with SIGKILL at every step (sagatest.RunCrash).
func TestCrash(t *testing.T) {
	sagatest.RunCrash(t, sagatest.CrashStore{
		Shared: true,
		Create: func(t *testing.T) string {
			rdb := newClient(t)
			s := newStore(t, rdb)
			return strings.TrimSuffix(s.KeyPattern(), "*")
		},
		Open: func(t *testing.T, prefix string) saga.Store { return openStore(t, newClient(t), prefix) },
	})
}
