package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/memstore"
	"github.com/courier-go/courier/memory"
)

var quiet = slog.New(slog.DiscardHandler)

// received collects what a consumer of the memory broker gets.
type received struct {
	mu    sync.Mutex
	msgs  []courier.Message
	count map[string]int // by message ID
	got   chan struct{}
}

func consume(t *testing.T, b *memory.Broker, topics ...string) *received {
	t.Helper()
	r := &received{count: map[string]int{}, got: make(chan struct{}, 1)}
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "check", Topics: topics})
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

// waitIDs waits until every one of ids was received, or fails after 20 s.
func (r *received) waitIDs(t *testing.T, ids []string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		missing := 0
		for _, id := range ids {
			if r.count[id] == 0 {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-r.got:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d of %d events never reached the broker", missing, len(ids))
		}
	}
}

// checkKeyOrder fails if, for some key, a message's version skips ahead of the highest
// version received so far plus one (duplicates, going back, are allowed: at least once).
func (r *received) checkKeyOrder(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	high := map[string]int64{}
	for _, m := range r.msgs {
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

func newBroker(t *testing.T) (*memory.Broker, courier.Producer) {
	b, err := memory.New(memory.Config{})
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
	got := consume(t, b, "accounts", "orders")
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
	stop := run(t, relay)
	got.waitIDs(t, ids)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got.checkKeyOrder(t)
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, m := range got.msgs {
		i, _ := strconv.Atoi(strings.TrimPrefix(m.ID, "ev-"))
		wantTopic := map[bool]string{true: "accounts", false: "orders"}[i%2 == 0]
		if m.Topic != wantTopic || !strings.HasSuffix(m.Key, fmt.Sprint(i%3)) || len(m.Value) != 1 || m.Value[0] != byte(i) ||
			m.Headers["tenant"] != "t1" || m.Headers[eventsource.HeaderEventType] != "Happened" || m.Headers[eventsource.HeaderEventStream] != m.Key {
			t.Errorf("message %+v does not carry event %d as it should", m, i)
		}
	}
	if len(got.msgs) != 30 {
		t.Errorf("%d messages for 30 events without failures", len(got.msgs))
	}
}

// flakyProducer fails some messages of some batches (passing the others on, as a broker
// that takes part of a batch does), and checks that no two relays send at once.
type flakyProducer struct {
	courier.Producer
	failRate float64
	active   atomic.Int32 // relays inside SendBatch
	overlaps atomic.Int32
	calls    sync.Mutex
	batches  [][]string // IDs per SendBatch call
}

func (p *flakyProducer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	if p.active.Add(1) > 1 {
		p.overlaps.Add(1)
	}
	defer p.active.Add(-1)
	p.calls.Lock()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	p.batches = append(p.batches, ids)
	p.calls.Unlock()
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

func TestRelayBatchErrorMovesCheckpointToFirstFailure(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	b, inner := newBroker(t)
	got := consume(t, b, "t")
	var ids []string
	for i := range 6 {
		id := fmt.Sprint("e", i)
		ids = append(ids, id)
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
	stop := run(t, relay)
	got.waitIDs(t, ids)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	all, _ := eventsource.Collect(store.ReadAll(t.Context(), eventsource.Position{}, eventsource.ReadAllOptions{}))
	cps.mu.Lock()
	defer cps.mu.Unlock()
	if len(cps.saved) < 2 || cps.saved[0] != all[2].Position || cps.saved[len(cps.saved)-1] != all[5].Position {
		t.Errorf("checkpoints saved %v, want first %v (before the failed e3), last %v", cps.saved, all[2].Position, all[5].Position)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	if got.count["e4"] != 2 || got.count["e3"] != 1 || got.count["e0"] != 1 {
		t.Errorf("deliveries %v: want e0-e2 once, e3 once (after the retry), e4 and e5 twice", got.count)
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

// TestRelayKilledAtRandomPoints: relays contending for one lease are killed at random
// moments while writers append and the producer fails messages at random. Every event
// reaches the broker, in version order per key, and two relays never send at once.
func TestRelayKilledAtRandomPoints(t *testing.T) {
	store := memstore.New(memstore.Config{})
	defer store.Close()
	b, inner := newBroker(t)
	got := consume(t, b, "t")
	p := &flakyProducer{Producer: inner, failRate: 0.05}
	cps := &eventsource.MemoryCheckpoints{}
	lease := &eventsource.LocalLease{}
	newRelay := func() *eventsource.Relay {
		r, err := eventsource.NewRelay(store, p, eventsource.RelayConfig{Name: "outbox", Topic: func(eventsource.Event) string { return "t" },
			Checkpoints: cps, Lease: lease, BatchSize: 16, PollInterval: 5 * time.Millisecond, Logger: quiet,
			Backoff: courier.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	const writers, perWriter = 4, 150
	var idsMu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := store.Append(context.Background(), fmt.Sprintf("stream-%d", (w*perWriter+i)%10), eventsource.Any, eventsource.EventData{ID: id, Type: "T"}); err != nil {
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

	// Keep two relays running; kill one at a random moment and start another, until the
	// writers are done.
	running := []func() error{run(t, newRelay()), run(t, newRelay())}
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
		running[i] = run(t, newRelay())
	}
	idsMu.Lock()
	all := append([]string(nil), ids...)
	idsMu.Unlock()
	got.waitIDs(t, all)
	for _, stop := range running {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	got.checkKeyOrder(t)
	if n := p.overlaps.Load(); n > 0 {
		t.Errorf("two relays sent at once %d times", n)
	}
	got.mu.Lock()
	t.Logf("%d events, %d messages received, %d relays killed", len(all), len(got.msgs), kills)
	got.mu.Unlock()
	if kills < 3 {
		t.Errorf("only %d relays killed: the test proved little", kills)
	}
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
