package redisstreams_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/dlq"
	"github.com/redis/go-redis/v9"
)

// testBroker opens a broker on the test Redis with the given extra URL parameters, under a
// prefix of the test's own, and returns it with an admin client and the prefix.
func testBroker(t *testing.T, params ...string) (courier.Broker, *redis.Client, string) {
	t.Helper()
	url := redisURL(t)
	prefix := testPrefix(t, url)
	b, err := courier.Open(t.Context(), withParams(url, append([]string{"prefix=" + prefix}, params...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, adminClient(t, url), prefix
}

// consumeInBackground runs Consume and checks at the test's end that it returned nil.
func consumeInBackground(t *testing.T, c courier.Consumer, h courier.HandlerFunc) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Consume(context.Background(), h) }()
	t.Cleanup(func() {
		_ = c.Close()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
}

// eventually polls cond (state in Redis, which cannot notify us) until it holds or the
// deadline passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

func send(t *testing.T, b courier.Broker, msgs ...courier.Message) {
	t.Helper()
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SendBatch(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
}

// A handler that runs for several ClaimIdle periods keeps its entry: the group's other
// consumer, claiming every 50ms, does not take it over while it runs.
func TestLongHandlerIsNotTakenOver(t *testing.T) {
	b, _, _ := testBroker(t, "claim_idle=500ms", "claim_interval=50ms", "block=50ms")
	cfg := courier.ConsumerConfig{Group: "g", Topics: []string{"long"}}
	var started, finished atomic.Int64
	long := func(ctx context.Context, m courier.Message) error {
		started.Add(1)
		select {
		case <-time.After(2 * time.Second): // the handler's long work: four times ClaimIdle
		case <-ctx.Done():
			return ctx.Err()
		}
		finished.Add(1)
		return nil
	}
	for range 2 {
		c, err := b.NewConsumer(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		consumeInBackground(t, c, long)
	}
	send(t, b, courier.Message{ID: "long", Topic: "long", Value: []byte("x")})
	eventually(t, "the handler to finish", 10*time.Second, func() bool { return finished.Load() > 0 })
	if n := started.Load(); n != 1 {
		t.Errorf("the message was handled %d times: taken over while its handler ran", n)
	}
}

// An entry pending under a live consumer's name that the consumer never received (the reply of
// its XREADGROUP lost when Redis crashed) goes idle and is delivered after ClaimIdle.
func TestOrphanedPendingEntryIsDelivered(t *testing.T) {
	b, admin, prefix := testBroker(t, "claim_idle=300ms", "claim_interval=50ms", "block=50ms")
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "g", Topics: []string{"orphan"}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	consumeInBackground(t, c, func(_ context.Context, m courier.Message) error {
		mu.Lock()
		got[m.ID] = m.Attempt
		mu.Unlock()
		return nil
	})
	stream := prefix + "orphan"
	// Redis adds a consumer to its group when it first reads an entry.
	send(t, b, courier.Message{ID: "first", Topic: "orphan", Value: []byte("x")})
	var name string
	eventually(t, "the consumer to join its group", 10*time.Second, func() bool {
		cs, err := admin.XInfoConsumers(t.Context(), stream, "g").Result()
		if err != nil || len(cs) == 0 {
			return false
		}
		name = cs[0].Name
		return true
	})
	// Add an entry and take it from the group in the consumer's name, behind its back, in one
	// transaction, so that the consumer's own blocking read cannot get it first.
	var read *redis.XStreamSliceCmd
	_, err = admin.TxPipelined(t.Context(), func(pipe redis.Pipeliner) error {
		pipe.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: []any{"id", "orphan", "ts", "1"}})
		read = pipe.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: "g", Consumer: name, Streams: []string{stream, ">"}, Count: 1, Block: -1})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := read.Val(); len(res) != 1 || len(res[0].Messages) != 1 {
		t.Fatalf("XREADGROUP in the consumer's name read %v", res)
	}
	eventually(t, "the orphaned entry to be delivered", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["orphan"] > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if got["orphan"] < 2 {
		t.Errorf("orphaned entry delivered with Attempt %d, want >= 2 (its second delivery)", got["orphan"])
	}
}

// Attempt is Redis's own delivery count of the entry.
func TestAttemptIsDeliveryCount(t *testing.T) {
	b, admin, prefix := testBroker(t)
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{
		Group: "g", Topics: []string{"count"},
		Backoff: courier.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	done := make(chan struct{})
	consumeInBackground(t, c, func(ctx context.Context, m courier.Message) error {
		p, err := admin.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: prefix + "count", Group: "g", Start: "-", End: "+", Count: 1}).Result()
		if err != nil || len(p) != 1 {
			t.Errorf("XPENDING: %v %v", p, err)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if int64(m.Attempt) != p[0].RetryCount {
			seen = append(seen, "mismatch")
			t.Errorf("Attempt %d, Redis's delivery count %d", m.Attempt, p[0].RetryCount)
		}
		seen = append(seen, "x")
		if m.Attempt < 3 {
			return errors.New("fail")
		}
		close(done)
		return nil
	})
	send(t, b, courier.Message{Topic: "count", Value: []byte("x")})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("message not handled three times")
	}
}

// An entry another client wrote (XADD stream * field value, in any layout) is delivered: the
// configured value field is the Value, other fields are headers, and the entry ID gives the ID
// and Timestamp; once handled it is acknowledged like any other. (Such entries used to stay
// pending, reclaimed and logged again every ClaimIdle, forever.)
func TestForeignEntryDelivered(t *testing.T) {
	b, admin, prefix := testBroker(t, "value_field=payload")
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "g", Topics: []string{"foreign"}})
	if err != nil {
		t.Fatal(err)
	}
	stream := prefix + "foreign"
	entryID, err := admin.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: []any{"payload", "{\"n\":1}", "source", "cli"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	bare, err := admin.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: []any{"foo", "bar"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan courier.Message, 3)
	consumeInBackground(t, c, func(_ context.Context, m courier.Message) error { got <- m; return nil })
	send(t, b, courier.Message{ID: "mine", Topic: "foreign", Value: []byte("x")})
	byValue := map[string]courier.Message{}
	for range 3 {
		select {
		case m := <-got:
			byValue[string(m.Value)] = m
		case <-time.After(10 * time.Second):
			t.Fatalf("delivered %d of 3 messages", len(byValue))
		}
	}
	first := byValue[`{"n":1}`]
	if first.Headers["source"] != "cli" || len(first.Headers) != 1 {
		t.Errorf("foreign entry headers %q, want source=cli", first.Headers)
	}
	ms, _, _ := strings.Cut(entryID, "-")
	if want := ms; strconv.FormatInt(first.Timestamp.UnixMilli(), 10) != want {
		t.Errorf("foreign entry %s has Timestamp %v", entryID, first.Timestamp)
	}
	if first.ID == "" || first.ID == byValue[""].ID {
		t.Errorf("foreign entries got IDs %q and %q", first.ID, byValue[""].ID)
	}
	if m, ok := byValue[""]; !ok || m.Value != nil || m.Headers["foo"] != "bar" {
		t.Errorf("entry %s without the value field arrived as %+v, want a nil Value and header foo=bar", bare, m)
	}
	if m := byValue["x"]; m.ID != "mine" {
		t.Errorf("courier's own message arrived as %+v", m)
	}
	eventually(t, "nothing pending", 10*time.Second, func() bool {
		p, err := admin.XPending(t.Context(), stream, "g").Result()
		return err == nil && p.Count == 0
	})
}

// Trimming keeps a stream near TrimMaxLen.
func TestTrimMaxLen(t *testing.T) {
	b, admin, prefix := testBroker(t, "trim_max_len=10")
	var msgs []courier.Message
	for range 1000 {
		msgs = append(msgs, courier.Message{Topic: "trim", Value: []byte("x")})
	}
	send(t, b, msgs...)
	n, err := admin.XLen(t.Context(), prefix+"trim").Result()
	if err != nil {
		t.Fatal(err)
	}
	// Approximate trimming removes whole macro nodes (100 entries by default), so the stream
	// keeps at least 10 and at most about one node more.
	if n < 10 || n > 250 {
		t.Errorf("stream holds %d entries after 1000 sends with trim_max_len=10", n)
	}
}

// New reports an unreachable Redis, naming it, by the context's deadline.
func TestOpenUnreachable(t *testing.T) {
	l, err := (&netListenConfig{}).listen()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there any more
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = courier.Open(ctx, "redis://"+addr+"/0")
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("New of an unreachable Redis = %v, want an error naming %s", err, addr)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("New took %v, past its context's deadline", took)
	}
}

// An entry that cannot be decoded (a courier entry with a damaged ts) is poison: it goes to
// the consumer's OnExhausted at once, here a dead-letter hook, with what could be read of it,
// is acknowledged once dead-lettered, and the entries behind it flow. (It used to stay
// pending, reclaimed and logged again every ClaimIdle, forever.)
func TestUndecodableEntryDeadLettered(t *testing.T) {
	b, admin, prefix := testBroker(t)
	dlp, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer dlp.Close()
	hook, err := dlq.DeadLetter(dlp, dlq.DeadLetterConfig{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "g", Topics: []string{"poison"}, MaxAttempts: 3, OnExhausted: hook})
	if err != nil {
		t.Fatal(err)
	}
	stream := prefix + "poison"
	if err := admin.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: []any{"id", "x", "ts", "yesterday", "v", "body"}}).Err(); err != nil {
		t.Fatal(err)
	}
	handled := make(chan courier.Message, 2)
	consumeInBackground(t, c, func(_ context.Context, m courier.Message) error { handled <- m; return nil })
	send(t, b, courier.Message{ID: "behind", Topic: "poison", Value: []byte("ok")})

	dead, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "ops", Topics: []string{dlq.DefaultTopic("poison", "g")}})
	if err != nil {
		t.Fatal(err)
	}
	letters := make(chan courier.Message, 1)
	consumeInBackground(t, dead, func(_ context.Context, m courier.Message) error { letters <- m; return nil })
	select {
	case m := <-handled:
		if m.ID != "behind" {
			t.Fatalf("the handler got %+v, want only the message behind the poison entry", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message behind the poison entry was not handled")
	}
	select {
	case m := <-letters:
		info, err := dlq.ParseInfo(m)
		if err != nil || info.Reason != dlq.ReasonPermanent || !strings.Contains(info.Error, "cannot be decoded") ||
			string(m.Value) != "body" || m.Headers["ts"] != "yesterday" {
			t.Errorf("dead letter %q value %q, info %+v (%v)", m.Headers, m.Value, info, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the poison entry was not dead-lettered")
	}
	eventually(t, "nothing pending", 10*time.Second, func() bool {
		p, err := admin.XPending(t.Context(), stream, "g").Result()
		return err == nil && p.Count == 0
	})
}
