package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/aggregate"
	"github.com/courier-go/courier/eventsource/estest"
	"github.com/courier-go/courier/eventsource/redisstore"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newStore returns a store under a random prefix on the test Redis, whose keys are deleted
// at cleanup.
func newStore(t testing.TB) (*redisstore.Store, *redis.Client) {
	t.Helper()
	url := testenv.Broker(t, testenv.RedisURL, nil)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("%s: %v", testenv.RedisURL, err)
	}
	opts.PoolSize = 24
	rdb := redis.NewClient(opts)
	prefix := fmt.Sprintf("estest-%x", rand.Uint64())
	s, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, pattern := range []string{s.KeyPattern(), "{" + prefix + "}:*"} {
			keys, _ := rdb.Keys(ctx, pattern).Result()
			if len(keys) > 0 {
				if err := rdb.Del(ctx, keys...).Err(); err != nil {
					t.Errorf("delete %d keys: %v", len(keys), err)
				}
			}
		}
		_ = rdb.Close()
	})
	return s, rdb
}

func TestAcceptance(t *testing.T) {
	estest.Run(t, estest.Backend{
		New: func(t testing.TB) eventsource.Store {
			s, _ := newStore(t)
			return s
		},
		Snapshots:   func(_ testing.TB, s eventsource.Store) aggregate.SnapshotStore { return s.(*redisstore.Store) },
		Checkpoints: func(_ testing.TB, s eventsource.Store) eventsource.CheckpointStore { return s.(*redisstore.Store) },
		Lease: func(t testing.TB, s eventsource.Store) eventsource.Lease {
			return redisstore.Lease{Client: s.(*redisstore.Store).Client(), Prefix: s.(*redisstore.Store).Prefix(), TTL: 300 * time.Millisecond}
		},
	})
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []redisstore.Config{{Prefix: "a{b"}, {PageSize: -1}} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", cfg)
		}
	}
	if _, err := redisstore.New(nil, redisstore.Config{}); err == nil {
		t.Error("New(nil client) accepted")
	}
}

// TestLease: exclusive, and lost when another token takes the key over.
func TestLease(t *testing.T) {
	s, rdb := newStore(t)
	estest.RunLease(t, redisstore.Lease{Client: rdb, Prefix: s.Prefix(), TTL: 150 * time.Millisecond}, func(t *testing.T, name string) {
		if err := rdb.Set(t.Context(), "{"+s.Prefix()+"}:lease:"+name, "intruder", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}, "held by another token")
}

func TestSnapshots(t *testing.T) {
	s, _ := newStore(t)
	estest.RunSnapshots(t, s)
}
