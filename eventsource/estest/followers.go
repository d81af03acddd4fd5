package estest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/memory"
)

// testSubscriptionRestart: a subscription stopped at random points and started again from
// its checkpoint, while a writer appends, handles each event once, in order.
func testSubscriptionRestart(t *testing.T, b Backend) {
	store := newStore(t, b)
	cps := b.checkpoints(t, store)
	prefix := uniq("sub")
	rec := NewRecorder()
	const total = 200
	writerDone := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := store.Append(context.Background(), fmt.Sprintf("%s-%d", prefix, i%7), eventsource.Any, eventsource.EventData{Type: "T"}); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()
	cfg := eventsource.SubscriptionConfig{Name: prefix, Checkpoints: cps, PageSize: 16, PollInterval: 5 * time.Millisecond,
		Filter: eventsource.Filter{StreamPrefix: prefix}}
	caughtUp := false
	for round := 0; len(rec.Events()) < total; round++ {
		sub, err := eventsource.NewSubscription(store, cfg, rec.Handle)
		if err != nil {
			t.Fatal(err)
		}
		stop := Start(t, sub)
		if round == 0 {
			select {
			case <-sub.CaughtUp():
				caughtUp = true
			case <-time.After(20 * time.Second):
				t.Fatal("the subscription never caught up")
			}
		}
		rec.WaitFor(t, min(total, len(rec.Events())+1+rand.IntN(30)))
		if err := stop(); err != nil {
			t.Fatalf("round %d: Run: %v", round, err)
		}
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	events := rec.Events()
	CheckOrder(t, events, total, nil)
	saved, err := cps.LoadCheckpoint(t.Context(), prefix)
	if err != nil || saved != events[len(events)-1].Position {
		t.Errorf("checkpoint %v (%v), want the last handled event's position %v", saved, err, events[len(events)-1].Position)
	}
	if !caughtUp {
		t.Error("CaughtUp never closed")
	}
}

// flakyProducer fails some messages of some batches (passing the others on, as a broker
// that takes part of a batch does) and counts the times two relays sent at once.
type flakyProducer struct {
	courier.Producer
	failRate float64
	active   atomic.Int32 // relays inside SendBatch
	overlaps atomic.Int32
}

func (p *flakyProducer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	if p.active.Add(1) > 1 {
		p.overlaps.Add(1)
	}
	defer p.active.Add(-1)
	errs := make([]error, len(msgs))
	failed := false
	for i, m := range msgs {
		if rand.Float64() < p.failRate {
			errs[i] = errors.New("injected failure")
			failed = true
			continue
		}
		if err := p.Producer.Send(ctx, m); err != nil {
			errs[i] = err
			failed = true
		}
	}
	if failed {
		return &courier.BatchError{Errs: errs}
	}
	return nil
}

// testRelayKilled: outbox relays contending for one lease are killed at random moments
// while writers append and the producer fails messages at random. Every event reaches the
// broker (memory://), in version order per key, and two relays never send at once.
func testRelayKilled(t *testing.T, b Backend) {
	store := newStore(t, b)
	cps := b.checkpoints(t, store)
	lease := b.lease(t, store)
	broker, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() })
	got := Consume(t, broker, "events")
	inner, err := broker.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProducer{Producer: inner, failRate: 0.05}
	prefix := uniq("relay")
	newRelay := func() *eventsource.Relay {
		r, err := eventsource.NewRelay(store, p, eventsource.RelayConfig{Name: prefix, Topic: func(eventsource.Event) string { return "events" },
			Checkpoints: cps, Lease: lease, BatchSize: 16, PollInterval: 5 * time.Millisecond, Filter: eventsource.Filter{StreamPrefix: prefix},
			Logger: slog.New(slog.DiscardHandler), Backoff: courier.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	const writers, perWriter = 4, 100
	var idsMu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("%s-w%d-%d", prefix, w, i)
				if _, err := store.Append(context.Background(), fmt.Sprintf("%s-%d", prefix, (w*perWriter+i)%10), eventsource.Any, eventsource.EventData{ID: id, Type: "T"}); err != nil {
					t.Error(err)
					return
				}
				idsMu.Lock()
				ids = append(ids, id)
				idsMu.Unlock()
			}
		})
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	// Keep two relays running; kill one at a random moment and start another.
	running := []func() error{Start(t, newRelay()), Start(t, newRelay())}
	kills := 0
	for done := false; !done || kills < 25; {
		select {
		case <-writersDone:
			done, writersDone = true, nil
		case <-time.After(time.Duration(rand.IntN(10)) * time.Millisecond): // a random kill point
		}
		i := rand.IntN(len(running))
		if err := running[i](); err != nil {
			t.Fatalf("killed relay: Run = %v", err)
		}
		kills++
		running[i] = Start(t, newRelay())
	}
	idsMu.Lock()
	all := append([]string(nil), ids...)
	idsMu.Unlock()
	got.WaitIDs(t, all)
	for _, stop := range running {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	got.CheckKeyOrder(t)
	if n := p.overlaps.Load(); n > 0 {
		t.Errorf("two relays sent at once %d times", n)
	}
	msgs, _ := got.Messages()
	t.Logf("%d events, %d messages received, %d relays killed", len(all), len(msgs), kills)
}
