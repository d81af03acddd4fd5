package estest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/memory"
)

// Recorder is a subscription handler that records the events it is given.
type Recorder struct {
	mu     sync.Mutex
	events []eventsource.Event
	got    chan struct{}
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{got: make(chan struct{}, 1)} }

// Handle records e; it is an eventsource.Handler.
func (r *Recorder) Handle(_ context.Context, e eventsource.Event) error {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
	return nil
}

// WaitFor waits until at least n events were recorded, or fails the test after 20 s.
func (r *Recorder) WaitFor(t testing.TB, n int) {
	t.Helper()
	waitUntil(t, r.got, 20*time.Second, func() (bool, string) {
		have := len(r.Events())
		return have >= n, fmt.Sprintf("handled %d events, want %d", have, n)
	})
}

// waitUntil waits until done reports true, checking at start and at each signal on got, or
// fails the test with done's description after d.
func waitUntil(t testing.TB, got <-chan struct{}, d time.Duration, done func() (bool, string)) {
	t.Helper()
	deadline := time.After(d)
	for {
		ok, what := done()
		if ok {
			return
		}
		select {
		case <-got:
		case <-deadline:
			t.Fatal(what)
		}
	}
}

// Events returns the events recorded so far.
func (r *Recorder) Events() []eventsource.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]eventsource.Event(nil), r.events...)
}

// CheckOrder fails the test unless there are want events, in strictly increasing position
// order, each stream's versions going up by one from first[stream] (1 when absent).
func CheckOrder(t testing.TB, events []eventsource.Event, want int, first map[string]int64) {
	t.Helper()
	if len(events) != want {
		t.Errorf("got %d events, want %d", len(events), want)
	}
	var prev eventsource.Position
	next := map[string]int64{}
	for _, e := range events {
		if e.Position.Compare(prev) <= 0 {
			t.Fatalf("event at %v after %v", e.Position, prev)
		}
		prev = e.Position
		w, ok := next[e.Stream]
		if !ok {
			w = max(first[e.Stream], 1)
		}
		if e.Version != w {
			t.Fatalf("stream %s: version %d, want %d", e.Stream, e.Version, w)
		}
		next[e.Stream] = w + 1
	}
}

// Start runs r.Run in a goroutine on a context of its own; stop ends that context and
// returns what Run returned (failing the test if it takes more than 10 s).
func Start(t testing.TB, r interface{ Run(context.Context) error }) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10 s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// Received collects what a consumer of a memory broker gets.
type Received struct {
	mu    sync.Mutex
	msgs  []courier.Message
	count map[string]int // by message ID
	got   chan struct{}
}

// Consume starts a consumer (group "estest") of topics on b that records every message.
func Consume(t testing.TB, b *memory.Broker, topics ...string) *Received {
	t.Helper()
	r := &Received{count: map[string]int{}, got: make(chan struct{}, 1)}
	c, err := b.NewConsumer(context.Background(), courier.ConsumerConfig{Group: "estest", Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Consume(context.Background(), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			r.mu.Lock()
			r.msgs = append(r.msgs, m)
			r.count[m.ID]++
			r.mu.Unlock()
			select {
			case r.got <- struct{}{}:
			default:
			}
			return nil
		}))
	}()
	t.Cleanup(func() { _ = c.Close(); <-done })
	return r
}

// WaitIDs waits until every one of ids was received, or fails the test after 30 s.
func (r *Received) WaitIDs(t testing.TB, ids []string) {
	t.Helper()
	waitUntil(t, r.got, 30*time.Second, func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		missing := 0
		for _, id := range ids {
			if r.count[id] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d events never reached the broker", missing, len(ids))
	})
}

// WaitCount waits until at least n messages were received, or fails the test after 30 s.
func (r *Received) WaitCount(t testing.TB, n int) {
	t.Helper()
	waitUntil(t, r.got, 30*time.Second, func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.msgs) >= n, fmt.Sprintf("received %d messages, want %d", len(r.msgs), n)
	})
}

// Messages returns the messages received so far, and how often each ID came.
func (r *Received) Messages() ([]courier.Message, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	count := make(map[string]int, len(r.count))
	for k, v := range r.count {
		count[k] = v
	}
	return append([]courier.Message(nil), r.msgs...), count
}

// CheckKeyOrder fails the test if, for some key, a message's event version skips ahead of
// the highest version received so far plus one. Going back (a duplicate: at least once)
// is allowed.
func (r *Received) CheckKeyOrder(t testing.TB) {
	t.Helper()
	msgs, _ := r.Messages()
	high := map[string]int64{}
	for _, m := range msgs {
		v, err := strconv.ParseInt(m.Headers[eventsource.HeaderEventVersion], 10, 64)
		if err != nil {
			t.Fatalf("message %s: version header: %v", m.ID, err)
		}
		if v > high[m.Key]+1 {
			t.Fatalf("key %s: version %d arrived when the highest so far was %d", m.Key, v, high[m.Key])
		}
		high[m.Key] = max(high[m.Key], v)
	}
}
