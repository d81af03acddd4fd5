package cqrs_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs"
	"github.com/courier-go/courier/dlq"
	"github.com/courier-go/courier/eventsource"
)

// One processor with a handler per type shares one consumer; a type without a handler is
// acknowledged and counted, not redelivered.
func TestEventProcessorGroup(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	bus, err := cqrs.NewEventBus(cqrs.EventBusConfig{Producer: producer(t, b), Topic: func(string) string { return "orders" }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		log  []string
		note = make(chan struct{}, 1)
	)
	record := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock(); signal(note) }
	if err := cqrs.OnEvent(p, func(_ context.Context, e OrderPlaced, ev cqrs.Event) error {
		if ev.Type != "OrderPlaced" || ev.Stream != e.OrderID || ev.ID == "" || ev.Time.IsZero() {
			t.Errorf("envelope %+v for %+v", ev, e)
		}
		record("placed " + e.OrderID + " v" + itoa(ev.Version))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := cqrs.OnEvent(p, func(_ context.Context, e OrderShipped, _ cqrs.Event) error {
		record("shipped " + e.OrderID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	type OrderAudited struct{ OrderID string }
	must(t, cqrs.PublishVersion(ctx, bus, OrderPlaced{OrderID: "o1", Amount: 2}, 1))
	must(t, cqrs.Publish(ctx, bus, OrderAudited{OrderID: "o1"})) // nobody handles it
	must(t, cqrs.Publish(ctx, bus, OrderShipped{OrderID: "o1"}))
	consume(t, b, "billing", "orders", p)
	waitFor(t, note, func() bool { mu.Lock(); defer mu.Unlock(); return len(log) == 2 })
	eventually(t, "the counts", func() bool { s := p.Stats(); return s.Handled == 2 && s.Skipped == 1 })
	if strings.Join(log, ", ") != "placed o1 v1, shipped o1" {
		t.Fatalf("handled %v", log)
	}
	if s := p.Stats(); s != (cqrs.Stats{Handled: 2, Skipped: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

func itoa(n int64) string { return string(rune('0' + n)) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Under RejectUnknown an unknown type is an error naming it, and bad payloads are ErrDecode.
func TestEventProcessorErrors(t *testing.T) {
	ctx := context.Background()
	p, _ := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "strict", Unknown: cqrs.RejectUnknown})
	var handled int
	must(t, cqrs.OnEvent(p, func(context.Context, OrderPlaced, cqrs.Event) error { handled++; return nil }))
	for _, c := range []struct {
		name string
		msg  courier.Message
		is   error
		says string
	}{
		{"unknown type", courier.Message{ID: "m1", Topic: "t", Key: "o9", Headers: map[string]string{cqrs.HeaderType: "OrderLost"}, Value: []byte(`{}`)},
			cqrs.ErrNoHandler, `"OrderLost" (id m1, stream "o9"`},
		{"no type header", courier.Message{ID: "m2", Topic: "t", Value: []byte(`{}`)}, cqrs.ErrDecode, "neither a cqrs-type nor an event-type header"},
		{"bad json", courier.Message{ID: "m3", Topic: "t", Headers: map[string]string{cqrs.HeaderType: "OrderPlaced"}, Value: []byte(`{"amount":"x"`)},
			cqrs.ErrDecode, "OrderPlaced (id m3"},
		{"bad version", courier.Message{ID: "m4", Topic: "t", Headers: map[string]string{cqrs.HeaderType: "OrderPlaced", cqrs.HeaderVersion: "v1"}, Value: []byte(`{}`)},
			cqrs.ErrDecode, `cqrs-version header "v1"`},
	} {
		err := p.HandleMessage(ctx, c.msg)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %v, want %v saying %q", c.name, err, c.is, c.says)
		}
	}
	if err := p.HandleEvent(ctx, cqrs.Event{Type: "OrderPlaced", Data: []byte(`{"order_id":"o1"}`)}); err != nil || handled != 1 {
		t.Fatalf("HandleEvent: %v, handled %d", err, handled)
	}
	if s := p.Stats(); s != (cqrs.Stats{Handled: 1, Failed: 4}) {
		t.Fatalf("stats %+v", s)
	}
}

// A handler error brings the message back; the event is handled once it succeeds.
func TestEventHandlerErrorRedelivers(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	bus, _ := cqrs.NewEventBus(cqrs.EventBusConfig{Producer: producer(t, b), Topic: func(typ string) string { return "events." + typ }})
	p, _ := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "g"})
	var (
		mu       sync.Mutex
		attempts []int
		note     = make(chan struct{}, 1)
	)
	must(t, cqrs.OnEvent(p, func(ctx context.Context, e OrderPlaced, ev cqrs.Event) error {
		mu.Lock()
		defer mu.Unlock()
		defer signal(note)
		attempts = append(attempts, len(attempts)+1)
		if len(attempts) < 3 {
			return errors.New("database down")
		}
		return nil
	}))
	must(t, cqrs.Publish(ctx, bus, OrderPlaced{OrderID: "o1"}))
	consume(t, b, "g", "events.OrderPlaced", p)
	eventually(t, "the handled count", func() bool { return p.Stats().Handled == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 3 {
		t.Fatalf("handler ran %d times, want 3", len(attempts))
	}
	if s := p.Stats(); s != (cqrs.Stats{Handled: 1, Failed: 2}) {
		t.Fatalf("stats %+v", s)
	}
}

// RejectUnknown with dlq.DeadLetter: an event type nobody handles comes back a bounded number
// of times, then lands in the dead-letter topic, acknowledged; the events after it go on.
func TestRejectUnknownWithDeadLetter(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	bus, _ := cqrs.NewEventBus(cqrs.EventBusConfig{Producer: producer(t, b), Topic: func(string) string { return "orders" }})
	p, _ := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "strict", Unknown: cqrs.RejectUnknown})
	note := make(chan struct{}, 1)
	must(t, cqrs.OnEvent(p, func(context.Context, OrderShipped, cqrs.Event) error { signal(note); return nil }))
	dl, err := dlq.DeadLetter(producer(t, b), dlq.DeadLetterConfig{Group: "strict"})
	must(t, err)
	must(t, cqrs.Publish(ctx, bus, OrderPlaced{OrderID: "o1"})) // no handler in this group
	must(t, cqrs.Publish(ctx, bus, OrderShipped{OrderID: "o1"}))
	consumeWith(t, b, courier.ConsumerConfig{Group: "strict", Topics: []string{"orders"}, MaxAttempts: 3, OnExhausted: dl}, p)
	dead := make(chan courier.Message, 1)
	consume(t, b, "ops", dlq.DefaultTopic("orders", "strict"), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		dead <- m
		return nil
	}))
	select {
	case m := <-dead:
		info, err := dlq.ParseInfo(m)
		if err != nil || info.Attempts != 3 || m.Headers[cqrs.HeaderType] != "OrderPlaced" || !strings.Contains(info.Error, "no handler registered") {
			t.Fatalf("dead letter %v, info %+v, %v", m.Headers, info, err)
		}
	case <-time.After(timeout):
		t.Fatal("the unknown event never reached the dead-letter topic")
	}
	eventually(t, "the handled count", func() bool { return p.Stats().Handled == 1 })
	if s := p.Stats(); s.Failed != 3 || s.Skipped != 0 {
		t.Fatalf("stats %+v, want 3 rejections", s)
	}
}

// recorder is a slog.Handler that keeps level and message of each record.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "type" {
			line += " " + a.Value.String()
		}
		return true
	})
	r.lines = append(r.lines, line)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// A skipped type is logged at Warn the first time, at Debug after that, without payload.
func TestUnknownTypeLogged(t *testing.T) {
	rec := &recorder{}
	p, _ := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "g", Logger: slog.New(rec)})
	for _, typ := range []string{"A", "A", "B", "A"} {
		m := courier.Message{ID: "m", Topic: "t", Headers: map[string]string{cqrs.HeaderType: typ}, Value: []byte(`{"secret":"x"}`)}
		if err := p.HandleMessage(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"WARN cqrs: skipped a type without a handler A",
		"DEBUG cqrs: skipped a type without a handler A",
		"WARN cqrs: skipped a type without a handler B",
		"DEBUG cqrs: skipped a type without a handler A",
	}
	if !slices.Equal(rec.lines, want) {
		t.Fatalf("logged %q, want %q", rec.lines, want)
	}
	if s := p.Stats(); s.Skipped != 4 {
		t.Fatalf("stats %+v", s)
	}
}

// TestProcessorReadsRelayedEvents: an event the event store's outbox relay published (its
// event-type and event-version headers, not cqrs's) reaches the typed handler with its
// version; it used to fail to decode.
func TestProcessorReadsRelayedEvents(t *testing.T) {
	p, err := cqrs.NewEventProcessor(cqrs.EventProcessorConfig{Name: "relayed"})
	must(t, err)
	var got cqrs.Event
	var order OrderPlaced
	must(t, cqrs.OnEvent(p, func(_ context.Context, e OrderPlaced, ev cqrs.Event) error {
		order, got = e, ev
		return nil
	}))
	msg := courier.Message{ID: "e1", Topic: "orders", Key: "order-7", Value: []byte(`{"order_id":"o7"}`),
		Headers: map[string]string{eventsource.HeaderEventType: "OrderPlaced", eventsource.HeaderEventVersion: "3",
			eventsource.HeaderEventStream: "order-7"}}
	if err := p.HandleMessage(context.Background(), msg); err != nil {
		t.Fatalf("HandleMessage of a relayed event: %v", err)
	}
	if order.OrderID != "o7" || got.Version != 3 || got.Stream != "order-7" || got.Type != "OrderPlaced" {
		t.Fatalf("handler got %+v, envelope %+v", order, got)
	}
}
