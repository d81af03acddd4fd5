package eventsource_test

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/estest"
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

func TestSubscriptionCatchUpThenLive(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	appendN(t, store, "a", 30)
	appendN(t, store, "b", 20)
	rec := estest.NewRecorder()
	sub, err := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{PageSize: 7}, rec.Handle)
	if err != nil {
		t.Fatal(err)
	}
	stop := estest.Start(t, sub)
	select {
	case <-sub.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("never caught up")
	}
	if got := len(rec.Events()); got != 50 {
		t.Fatalf("caught up with %d events handled, want 50", got)
	}
	var wg sync.WaitGroup
	for _, s := range []string{"a", "b", "c"} {
		wg.Go(func() { appendN(t, store, s, 10) })
	}
	wg.Wait()
	rec.WaitFor(t, 80)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	estest.CheckOrder(t, rec.Events(), 80, nil)
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
	rec := estest.NewRecorder()
	sub2, _ := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{Name: "p", Checkpoints: cps}, rec.Handle)
	stop := estest.Start(t, sub2)
	rec.WaitFor(t, 3)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	estest.CheckOrder(t, rec.Events(), 3, map[string]int64{"acc": 3})
	if len(seen) != 2 {
		t.Errorf("first run handled %v, want versions 1 and 2", seen)
	}
}

// limitSpy is a store that records the limits ReadAll is called with.
type limitSpy struct {
	eventsource.Store
	mu     sync.Mutex
	limits []int
	read   int // events yielded
}

func (s *limitSpy) ReadAll(ctx context.Context, from eventsource.Position, opts eventsource.ReadAllOptions) iter.Seq2[eventsource.Event, error] {
	s.mu.Lock()
	s.limits = append(s.limits, opts.Limit)
	s.mu.Unlock()
	return func(yield func(eventsource.Event, error) bool) {
		for e, err := range s.Store.ReadAll(ctx, from, opts) {
			s.mu.Lock()
			s.read++
			s.mu.Unlock()
			if !yield(e, err) {
				return
			}
		}
	}
}

// TestSubscriptionNarrowFilterMovesOn: events that do not pass the filter are read once,
// not again at every poll.
func TestSubscriptionNarrowFilterMovesOn(t *testing.T) {
	mem := memstore.New(memstore.Config{})
	defer mem.Close()
	appendN(t, mem, "common", 500)
	if _, err := mem.Append(t.Context(), "rare", eventsource.NoStream, eventsource.EventData{Type: "Rare"}); err != nil {
		t.Fatal(err)
	}
	appendN(t, mem, "common", 100)
	spy := &limitSpy{Store: mem}
	rec := estest.NewRecorder()
	sub, _ := eventsource.NewSubscription(spy, eventsource.SubscriptionConfig{PageSize: 50, PollInterval: time.Millisecond,
		Filter: eventsource.Filter{Types: []string{"Rare"}}}, rec.Handle)
	stop := estest.Start(t, sub)
	rec.WaitFor(t, 1)
	<-sub.CaughtUp()
	// Let it poll a while at the head: with the position stuck at the rare event, each poll
	// would read the 100 common events after it again.
	for range 20 {
		appendN(t, mem, "common", 1)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if spy.read > 621 || spy.read < 601 {
		t.Errorf("read %d events from the store for 621 appended (601 before the last 20): the position did not move past unmatched events", spy.read)
	}
	if got := rec.Events(); len(got) != 1 || got[0].Type != "Rare" {
		t.Errorf("handled %v, want the one Rare event", got)
	}
}

// TestSubscriptionBoundedMemory: however far behind, a subscription reads a page at a time.
func TestSubscriptionBoundedMemory(t *testing.T) {
	mem := memstore.New(memstore.Config{})
	defer mem.Close()
	appendN(t, mem, "x", 1000)
	spy := &limitSpy{Store: mem}
	rec := estest.NewRecorder()
	sub, _ := eventsource.NewSubscription(spy, eventsource.SubscriptionConfig{PageSize: 10, PollInterval: time.Millisecond}, rec.Handle)
	stop := estest.Start(t, sub)
	rec.WaitFor(t, 1000)
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

func TestSubscriptionRunTwiceAtOnce(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	sub, err := eventsource.NewSubscription(store, eventsource.SubscriptionConfig{}, estest.NewRecorder().Handle)
	if err != nil {
		t.Fatal(err)
	}
	stop := estest.Start(t, sub)
	<-sub.CaughtUp()
	if err := sub.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run at once = %v, want an error saying it is already running", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// flakyReads is a store whose first reads fail, as when the connection to a server drops.
type flakyReads struct {
	eventsource.Store
	failures atomic.Int32
}

func (s *flakyReads) ReadAll(ctx context.Context, from eventsource.Position, opts eventsource.ReadAllOptions) iter.Seq2[eventsource.Event, error] {
	if s.failures.Add(-1) >= 0 {
		return eventsource.ReadError(errors.New("connection reset by peer"))
	}
	return s.Store.ReadAll(ctx, from, opts)
}

// TestSubscriptionRetriesFailedReads: failed reads are tried again; a closed store ends Run.
func TestSubscriptionRetriesFailedReads(t *testing.T) {
	mem := memstore.New(memstore.Config{})
	appendN(t, mem, "acc", 20)
	flaky := &flakyReads{Store: mem}
	flaky.failures.Store(3)
	rec := estest.NewRecorder()
	sub, err := eventsource.NewSubscription(flaky, eventsource.SubscriptionConfig{PageSize: 8, Logger: slog.New(slog.DiscardHandler),
		Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}}, rec.Handle)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sub.Run(context.Background()) }()
	rec.WaitFor(t, 20)
	estest.CheckOrder(t, rec.Events(), 20, nil)
	_ = mem.Close()
	select {
	case err := <-done:
		if !errors.Is(err, eventsource.ErrClosed) {
			t.Errorf("Run after the store closed = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on after the store closed")
	}
}
