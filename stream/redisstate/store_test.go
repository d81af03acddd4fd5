package redisstate_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	_ "github.com/courier-go/courier/redisstreams"
	"github.com/courier-go/courier/stream"
	"github.com/courier-go/courier/stream/redisstate"
	"github.com/courier-go/courier/stream/statetest"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // consumers log the failures we inject
	goleak.VerifyTestMain(m)
}

// client returns a client of the test Redis and a key prefix of the test's own, whose keys
// are deleted at cleanup.
func client(t *testing.T) (*redis.Client, string, string) {
	t.Helper()
	url := testenv.Broker(t, testenv.RedisURL, nil)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("%s: %v", testenv.RedisURL, err)
	}
	rdb := redis.NewClient(opts)
	prefix := fmt.Sprintf("courier-test:stream:%x:", rand.Uint64())
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleaning up %s*: %v", prefix, err)
		}
		_ = rdb.Close()
	})
	return rdb, prefix, url
}

func TestStore(t *testing.T) {
	statetest.Run(t, func(t *testing.T) stream.Store {
		rdb, prefix, _ := client(t)
		s, err := redisstate.New(rdb, redisstate.Config{Prefix: prefix, Remember: statetest.MinRemember})
		if err != nil {
			t.Fatal(err)
		}
		// Stores of one subtest share their state: they use one prefix.
		return sharedPrefix(t, s, prefix)
	})
}

var (
	prefixesMu sync.Mutex
	prefixes   = map[*testing.T]string{}
)

// sharedPrefix returns, for the second store made in a subtest, one on the first's prefix.
func sharedPrefix(t *testing.T, s *redisstate.Store, prefix string) stream.Store {
	prefixesMu.Lock()
	defer prefixesMu.Unlock()
	first, ok := prefixes[t]
	if !ok {
		prefixes[t] = prefix
		return s
	}
	rdb, _, _ := client(t)
	other, err := redisstate.New(rdb, redisstate.Config{Prefix: first, Remember: statetest.MinRemember})
	if err != nil {
		t.Fatal(err)
	}
	return other
}

func TestConfig(t *testing.T) {
	if _, err := redisstate.New(nil, redisstate.Config{}); err == nil {
		t.Error("New(nil) = nil error")
	}
	if err := (redisstate.Config{Remember: -1}).Validate(); err == nil {
		t.Error("negative Remember accepted")
	}
}

// Two consumers of one group on Redis Streams get messages of the same key at once (Redis
// hands entries out in turn, whatever their key), and acknowledgements get lost: counting
// with the compare-and-set store stays exact.
func TestTwoConsumersOnRedisCountExactly(t *testing.T) {
	const n = 600
	rdb, prefix, url := client(t)
	store, err := redisstate.New(rdb, redisstate.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := courier.Open(ctx, url+"?prefix="+prefix+"topic:&claim_idle=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	prod, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	counting := &conflictCounter{Store: store}
	p := stream.New(stream.Config{Name: "colours"})
	stream.Count(stream.From(p, stream.String), counting, "count")
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	var lost atomic.Int64
	done := make(chan struct{})
	var handled sync.Map
	var distinct atomic.Int64
	h := courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		if err := p.HandleMessage(ctx, m); err != nil {
			return err
		}
		if m.Attempt == 1 && rand.IntN(10) == 0 {
			lost.Add(1)
			return fmt.Errorf("lost acknowledgement")
		}
		if _, dup := handled.LoadOrStore(m.ID, true); !dup && distinct.Add(1) == n {
			close(done)
		}
		return nil
	})
	fast := courier.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}
	var consumers sync.WaitGroup
	for range 2 {
		c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"clicks"}, Concurrency: 4, Backoff: fast})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		consumers.Go(func() {
			if err := c.Consume(ctx, h); err != nil {
				t.Errorf("Consume: %v", err)
			}
		})
	}
	colours := []string{"red", "green", "blue"}
	want := map[string]int64{}
	var msgs []courier.Message
	for i := range n {
		c := colours[i%len(colours)]
		want[c]++
		msgs = append(msgs, courier.Message{Topic: "clicks", Key: c, Value: []byte(c)})
	}
	if err := prod.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("handled %d of %d messages before the deadline", distinct.Load(), n)
	}
	cancel()
	consumers.Wait()
	for c, w := range want {
		st, err := store.Get(context.Background(), "colours/count", c)
		if err != nil {
			t.Fatal(err)
		}
		if string(st.Value) != strconv.FormatInt(w, 10) {
			t.Errorf("%s counted %s; sent %d", c, st.Value, w)
		}
	}
	if lost.Load() == 0 || counting.conflicts.Load() == 0 {
		t.Errorf("%d acknowledgements lost, %d conflicts; want some of both (redeliveries, consumers racing on a key)",
			lost.Load(), counting.conflicts.Load())
	}
	t.Logf("%d acknowledgements lost, %d compare-and-set conflicts", lost.Load(), counting.conflicts.Load())
}

// conflictCounter counts the compare-and-set conflicts of a store.
type conflictCounter struct {
	stream.Store
	conflicts atomic.Int64
}

func (c *conflictCounter) Apply(ctx context.Context, table, key string, u stream.Update) (stream.Outcome, stream.State, error) {
	out, st, err := c.Store.Apply(ctx, table, key, u)
	if out == stream.Conflict {
		c.conflicts.Add(1)
	}
	return out, st, err
}
