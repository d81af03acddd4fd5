package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/estest"
	"github.com/courier-go/courier/eventsource/memstore"
	"github.com/courier-go/courier/memory"
)

var quiet = slog.New(slog.DiscardHandler)

func newBroker(t *testing.T) (*memory.Broker, courier.Producer) {
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b, p
}

func TestRelaySendsEvents(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	b, p := newBroker(t)
	got := estest.Consume(t, b, "accounts", "orders")
	var ids []string
	for i := range 30 {
		stream := fmt.Sprint([]string{"account-", "order-"}[i%2], i%3)
		res, err := store.Append(t.Context(), stream, eventsource.Any, eventsource.EventData{
			ID: fmt.Sprint("ev-", i), Type: "Happened", Data: []byte{byte(i)}, Metadata: map[string]string{"tenant": "t1"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = res
		ids = append(ids, fmt.Sprint("ev-", i))
	}
	relay, err := eventsource.NewRelay(store, p, eventsource.RelayConfig{
		Name: "outbox", Checkpoints: &eventsource.MemoryCheckpoints{}, Lease: &eventsource.LocalLease{}, BatchSize: 8,
		Topic: func(e eventsource.Event) string {
			if strings.HasPrefix(e.Stream, "account-") {
				return "accounts"
			}
			return "orders"
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := estest.Start(t, relay)
	got.WaitIDs(t, ids)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got.CheckKeyOrder(t)
	msgs, _ := got.Messages()
	for _, m := range msgs {
		i, _ := strconv.Atoi(strings.TrimPrefix(m.ID, "ev-"))
		wantTopic := map[bool]string{true: "accounts", false: "orders"}[i%2 == 0]
		if m.Topic != wantTopic || !strings.HasSuffix(m.Key, fmt.Sprint(i%3)) || len(m.Value) != 1 || m.Value[0] != byte(i) ||
			m.Headers["tenant"] != "t1" || m.Headers[eventsource.HeaderEventType] != "Happened" || m.Headers[eventsource.HeaderEventStream] != m.Key {
			t.Errorf("message %+v does not carry event %d as it should", m, i)
		}
	}
	if len(msgs) != 30 {
		t.Errorf("%d messages for 30 events without failures", len(msgs))
	}
}

func TestRelayBatchErrorMovesCheckpointToFirstFailure(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	b, inner := newBroker(t)
	got := estest.Consume(t, b, "t")
	for i := range 6 {
		id := fmt.Sprint("e", i)
		if _, err := store.Append(t.Context(), fmt.Sprint("s", i), eventsource.Any, eventsource.EventData{ID: id, Type: "T"}); err != nil {
			t.Fatal(err)
		}
	}
	// The first batch fails at its 4th message (e3), the rest succeed.
	var calls atomic.Int32
	p := producerFunc{Producer: inner, sendBatch: func(ctx context.Context, msgs []courier.Message) error {
		if calls.Add(1) == 1 {
			errs := make([]error, len(msgs))
			for i, m := range msgs {
				if i == 3 {
					errs[i] = errors.New("refused")
				} else if err := inner.Send(ctx, m); err != nil {
					errs[i] = err
				}
			}
			return &courier.BatchError{Errs: errs}
		}
		return inner.SendBatch(ctx, msgs)
	}}
	cps := &checkpointLog{}
	relay, err := eventsource.NewRelay(store, p, eventsource.RelayConfig{Name: "r", Topic: func(eventsource.Event) string { return "t" },
		Checkpoints: cps, Lease: &eventsource.LocalLease{}, Logger: quiet, Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}})
	if err != nil {
		t.Fatal(err)
	}
	stop := estest.Start(t, relay)
	got.WaitCount(t, 8) // e4 and e5 come twice: they were sent after the failed e3
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	all, _ := eventsource.Collect(store.ReadAll(t.Context(), eventsource.Position{}, eventsource.ReadAllOptions{}))
	cps.mu.Lock()
	defer cps.mu.Unlock()
	if len(cps.saved) < 2 || cps.saved[0] != all[2].Position || cps.saved[len(cps.saved)-1] != all[5].Position {
		t.Errorf("checkpoints saved %v, want first %v (before the failed e3), last %v", cps.saved, all[2].Position, all[5].Position)
	}
	if _, count := got.Messages(); count["e4"] != 2 || count["e3"] != 1 || count["e0"] != 1 {
		t.Errorf("deliveries %v: want e0-e2 once, e3 once (after the retry), e4 and e5 twice", count)
	}
}

type producerFunc struct {
	courier.Producer
	sendBatch func(ctx context.Context, msgs []courier.Message) error
}

func (p producerFunc) SendBatch(ctx context.Context, msgs []courier.Message) error {
	return p.sendBatch(ctx, msgs)
}

type checkpointLog struct {
	eventsource.MemoryCheckpoints
	mu    sync.Mutex
	saved []eventsource.Position
}

func (c *checkpointLog) SaveCheckpoint(ctx context.Context, name string, pos eventsource.Position) error {
	c.mu.Lock()
	c.saved = append(c.saved, pos)
	c.mu.Unlock()
	return c.MemoryCheckpoints.SaveCheckpoint(ctx, name, pos)
}

func TestRelayConfigErrors(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	_, p := newBroker(t)
	_, err := eventsource.NewRelay(store, p, eventsource.RelayConfig{BatchSize: -1})
	for _, want := range []string{"empty Name", "nil Topic", "nil Checkpoints", "nil Lease", "negative BatchSize"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewRelay with an empty config: %v, want it to say %q", err, want)
		}
	}
	if _, err := eventsource.NewRelay(store, nil, eventsource.RelayConfig{}); err == nil || !strings.Contains(err.Error(), "nil producer") {
		t.Errorf("NewRelay(nil producer) = %v", err)
	}
}

// TestRelayInvalidTopicStops: a message the broker can never take stops the relay with an
// error naming the event, instead of retrying for ever.
func TestRelayInvalidTopicStops(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	_, p := newBroker(t)
	if _, err := store.Append(t.Context(), "s", eventsource.Any, eventsource.EventData{ID: "bad", Type: "T"}); err != nil {
		t.Fatal(err)
	}
	r, _ := eventsource.NewRelay(store, p, eventsource.RelayConfig{Name: "r", Topic: func(eventsource.Event) string { return "" },
		Checkpoints: &eventsource.MemoryCheckpoints{}, Lease: &eventsource.LocalLease{}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.Run(ctx); !errors.Is(err, courier.ErrInvalidMessage) || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("Run = %v, want ErrInvalidMessage naming event \"bad\"", err)
	}
}
