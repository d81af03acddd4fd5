package stream

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // consumers log every failure we inject
	goleak.VerifyTestMain(m)
}

const timeout = 20 * time.Second

// fast is a redelivery backoff short enough for tests, without jitter.
var fast = courier.Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, Multiplier: 2}

func newBroker(t testing.TB) *memory.Broker {
	t.Helper()
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newProducer(t testing.TB, b courier.Broker) courier.Producer {
	t.Helper()
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// recorder is a Producer that keeps what it is sent; fail, when set, decides per message
// whether its Send fails (before anything is kept).
type recorder struct {
	mu   sync.Mutex
	msgs []courier.Message
	fail func(courier.Message) bool
	cond chan struct{} // closed and replaced on every send
}

func newRecorder() *recorder { return &recorder{cond: make(chan struct{})} }

var errInjected = errors.New("injected failure")

func (r *recorder) Send(ctx context.Context, msg courier.Message) error {
	return r.SendBatch(ctx, []courier.Message{msg})
}

func (r *recorder) SendBatch(_ context.Context, msgs []courier.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if r.fail != nil && r.fail(m) {
			return errInjected
		}
	}
	r.msgs = append(r.msgs, msgs...)
	close(r.cond)
	r.cond = make(chan struct{})
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) sent() []courier.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// waitFor waits until ok holds for what r was sent, or fails the test at the deadline.
func (r *recorder) waitFor(t testing.TB, what string, ok func([]courier.Message) bool) []courier.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		msgs, ch := slices.Clone(r.msgs), r.cond
		r.mu.Unlock()
		if ok(msgs) {
			return msgs
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; %d messages sent", what, len(msgs))
		}
	}
}

// consume runs h on a consumer of topic in group until the test ends.
func consume(t testing.TB, b courier.Broker, group, topic string, concurrency int, h courier.MessageHandler) {
	t.Helper()
	c, err := b.NewConsumer(context.Background(), courier.ConsumerConfig{
		Group: group, Topics: []string{topic}, Concurrency: concurrency, Backoff: fast})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Consume(context.Background(), h) }()
	t.Cleanup(func() {
		_ = c.Close()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
}

func sendAll(t testing.TB, p courier.Producer, msgs []courier.Message) {
	t.Helper()
	if err := p.SendBatch(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

func mustValidate(t testing.TB, p *Pipeline) {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}
