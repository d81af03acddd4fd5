package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/memstore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func appendN(t *testing.T, s eventsource.Store, stream string, n int) {
	t.Helper()
	for range n {
		if _, err := s.Append(t.Context(), stream, eventsource.Any, eventsource.EventData{Type: "T"}); err != nil {
			t.Fatal(err)
		}
	}
}

// recorder is a subscription handler that records the events and signals each one.
type recorder struct {
	mu     sync.Mutex
	events []eventsource.Event
	got    chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 1<<16)} }

func (r *recorder) handle(_ context.Context, e eventsource.Event) error {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	r.got <- struct{}{}
	return nil
}

// waitFor waits until n events were recorded, or fails after 10 s.
func (r *recorder) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		have := len(r.events)
		r.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("handled %d events, want %d", have, n)
		}
	}
}

func (r *recorder) snapshot() []eventsource.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]eventsource.Event(nil), r.events...)
}

// checkOrder fails unless events are in strictly increasing position order, each stream's
// versions increase by one from first (by stream), and there are want of them.
func checkOrder(t *testing.T, events []eventsource.Event, want int, first map[string]int64) {
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
			w = first[e.Stream]
			if w == 0 {
				w = 1
			}
		}
		if e.Version != w {
			t.Fatalf("stream %s: version %d, want %d", e.Stream, e.Version, w)
		}
		next[e.Stream] = w + 1
	}
}

func run(t *testing.T, sub interface{ Run(context.Context) error }) (cancel func() error) {
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	return func() error {
		stop()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10 s of its context ending")
			return nil
		}
	}
}

func TestSubscriptionCatchUpThenLive(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	appendN(t, store, "a", 30)
	appendN(t, store, "b", 20)
	rec := newRecorder()
	sub, err := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{PageSize: 7}, rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, sub)
	select {
	case <-sub.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("never caught up")
	}
	if got := len(rec.snapshot()); got != 50 {
		t.Fatalf("caught up with %d events handled, want 50", got)
	}
	var wg sync.WaitGroup
	for _, s := range []string{"a", "b", "c"} {
		wg.Go(func() { appendN(t, store, s, 10) })
	}
	wg.Wait()
	rec.waitFor(t, 80)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkOrder(t, rec.snapshot(), 80, nil)
}

// TestSubscriptionRestartFromCheckpoint: stopped at random points and started again, a
// subscription handles each event once, in order.
func TestSubscriptionRestartFromCheckpoint(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	cps := &eventsource.MemoryCheckpoints{}
	rec := newRecorder()
	const total = 300
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := range total {
			if _, err := store.Append(context.Background(), fmt.Sprint("s", i%7), eventsource.Any, eventsource.EventData{Type: "T"}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for round := 0; ; round++ {
		sub, err := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{Name: "proj", Checkpoints: cps, PageSize: 16}, rec.handle)
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, sub)
		rec.waitFor(t, min(total, len(rec.snapshot())+1+round%20))
		if err := stop(); err != nil {
			t.Fatalf("round %d: Run: %v", round, err)
		}
		if len(rec.snapshot()) >= total {
			break
		}
	}
	<-writerDone
	checkOrder(t, rec.snapshot(), total, nil)
	saved, _ := cps.LoadCheckpoint(t.Context(), "proj")
	if events := rec.snapshot(); saved != events[len(events)-1].Position {
		t.Errorf("checkpoint %v, want the last handled event's position %v", saved, events[len(events)-1].Position)
	}
}

func TestSubscriptionHandlerError(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	appendN(t, store, "acc", 5)
	cps := &eventsource.MemoryCheckpoints{}
	boom := errors.New("boom")
	var seen []int64
	sub, err := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{Name: "p", Checkpoints: cps}, func(_ context.Context, e eventsource.Event) error {
		if e.Version == 3 {
			return boom
		}
		seen = append(seen, e.Version)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = sub.Run(t.Context())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `stream "acc" version 3`) {
		t.Fatalf("Run = %v, want the handler's error naming stream and version", err)
	}
	rec := newRecorder()
	sub2, _ := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{Name: "p", Checkpoints: cps}, rec.handle)
	stop := run(t, sub2)
	rec.waitFor(t, 3)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, rec.snapshot(), 3, map[string]int64{"acc": 3})
	if len(seen) != 2 {
		t.Errorf("first run handled %v, want versions 1 and 2", seen)
	}
}

// limitSpy is a store that records the limits ReadAll is called with.
type limitSpy struct {
	eventsource.Store
	mu     sync.Mutex
	limits []int
}

func (s *limitSpy) ReadAll(ctx context.Context, from eventsource.Position, opts eventsource.ReadAllOptions) iter.Seq2[eventsource.Event, error] {
	s.mu.Lock()
	s.limits = append(s.limits, opts.Limit)
	s.mu.Unlock()
	return s.Store.ReadAll(ctx, from, opts)
}

// TestSubscriptionBoundedMemory: however far behind, a subscription reads a page at a time.
func TestSubscriptionBoundedMemory(t *testing.T) {
	mem := memstore.New(memstore.Config{})
	defer mem.Close()
	appendN(t, mem, "x", 1000)
	spy := &limitSpy{Store: mem}
	rec := newRecorder()
	sub, _ := eventsource.NewSubscription(spy, eventsource.SubscriptionConfig{PageSize: 10, PollInterval: time.Millisecond}, rec.handle)
	stop := run(t, sub)
	rec.waitFor(t, 1000)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.limits) < 100 {
		t.Errorf("%d reads for 1000 events with PageSize 10", len(spy.limits))
	}
	for _, l := range spy.limits {
		if l != 10 {
			t.Fatalf("ReadAll with Limit %d, want 10", l)
		}
	}
}

func TestSubscriptionConfigErrors(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	h := func(context.Context, eventsource.Event) error { return nil }
	cases := []struct {
		cfg  eventsource.SubscriptionConfig
		h    eventsource.Handler
		says string
	}{
		{eventsource.SubscriptionConfig{Checkpoints: &eventsource.MemoryCheckpoints{}}, h, "empty Name"},
		{eventsource.SubscriptionConfig{PageSize: -1}, h, "PageSize"},
		{eventsource.SubscriptionConfig{PollInterval: -1}, h, "PollInterval"},
		{eventsource.SubscriptionConfig{}, nil, "nil handler"},
	}
	for _, c := range cases {
		if _, err := eventsource.NewSubscription(store, c.cfg, c.h); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want an error saying %q", c.cfg, err, c.says)
		}
	}
}
