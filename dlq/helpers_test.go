package dlq

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // the middleware logs every failure, on purpose
	goleak.VerifyTestMain(m)
}

const timeout = 10 * time.Second

// second is the backoff of the tests, which run in synctest bubbles: exactly one second of
// the bubble's clock between attempts.
var second = courier.Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}

func newBroker(t *testing.T) *memory.Broker {
	t.Helper()
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func producer(t *testing.T, b courier.Broker) courier.Producer {
	t.Helper()
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func send(t *testing.T, p courier.Producer, msgs ...courier.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := p.Send(context.Background(), m); err != nil {
			t.Fatalf("Send to %q: %v", m.Topic, err)
		}
	}
}

// consuming is a Consume running in the background.
type consuming struct {
	c       courier.Consumer
	done    chan error
	stopped sync.Once
}

func consume(t *testing.T, b courier.Broker, cfg courier.ConsumerConfig, h courier.MessageHandler) *consuming {
	t.Helper()
	if cfg.Backoff == (courier.Backoff{}) {
		cfg.Backoff = second
	}
	c, err := b.NewConsumer(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &consuming{c: c, done: make(chan error, 1)}
	go func() { r.done <- c.Consume(context.Background(), h) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop closes the consumer and checks Consume's result; only the first call does anything.
func (r *consuming) stop(t *testing.T) {
	t.Helper()
	r.stopped.Do(func() { r.close(t) })
}

func (r *consuming) close(t *testing.T) {
	t.Helper()
	if err := r.c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Consume: %v", err)
		}
	case <-time.After(timeout):
		t.Error("Consume did not return after Close")
	}
}

// collector records the messages a handler got and lets tests wait for them.
type collector struct {
	mu      sync.Mutex
	msgs    []courier.Message
	changed chan struct{}
	fn      func(courier.Message) error
}

func newCollector(fn func(courier.Message) error) *collector {
	return &collector{changed: make(chan struct{}, 1), fn: fn}
}

func (c *collector) HandleMessage(_ context.Context, m courier.Message) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	fn := c.fn
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	if fn != nil {
		return fn(m)
	}
	return nil
}

func (c *collector) all() []courier.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]courier.Message(nil), c.msgs...)
}

// wait waits until the collector holds n messages.
func (c *collector) wait(t *testing.T, n int) []courier.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := c.all(); len(got) >= n {
			return got
		}
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %d messages, have %d", n, len(c.all()))
		}
	}
}

func attempts(msgs []courier.Message) []int {
	var a []int
	for _, m := range msgs {
		a = append(a, m.Attempt)
	}
	return a
}

// flakyProducer fails its first n Sends, and says when the first one succeeded.
type flakyProducer struct {
	courier.Producer
	mu        sync.Mutex
	fails     int
	published time.Time
}

var errFlaky = errors.New("dead-letter topic unavailable")

func (f *flakyProducer) Send(ctx context.Context, m courier.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errFlaky
	}
	if err := f.Producer.Send(ctx, m); err != nil {
		return err
	}
	if f.published.IsZero() {
		f.published = time.Now()
	}
	return nil
}

// firstPublished is when a Send first succeeded; zero if none has.
func (f *flakyProducer) firstPublished() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.published
}

// deadLetterTo returns DeadLetter(p, cfg), failing t on an error.
func deadLetterTo(t *testing.T, p courier.Producer, cfg DeadLetterConfig) courier.ExhaustedFunc {
	t.Helper()
	h, err := DeadLetter(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// settledAll reports whether the group has acknowledged everything on topic: nothing handed
// back for redelivery and nothing left unread. Call it after the consumer closed, which hands
// back whatever was not acknowledged.
func settledAll(t *testing.T, b *memory.Broker, topic, group string) bool {
	t.Helper()
	s, ok := b.TopicStats(topic)
	if !ok {
		t.Fatalf("no topic %q", topic)
	}
	g := s.Groups[group]
	return g.Redeliver == 0 && g.Next == s.Next
}

// firstDeadLetter waits for the first message on the dead-letter topic and reads its headers.
func firstDeadLetter(t *testing.T, b courier.Broker, topic string) (courier.Message, Info) {
	t.Helper()
	dead := newCollector(nil)
	consume(t, b, courier.ConsumerConfig{Group: "ops", Topics: []string{topic}}, dead)
	letter := dead.wait(t, 1)[0]
	info, err := ParseInfo(letter)
	if err != nil {
		t.Fatalf("ParseInfo: %v", err)
	}
	return letter, info
}

// recordingProducer keeps what it is sent, or fails with err.
type recordingProducer struct {
	courier.Producer
	err  error
	sent []courier.Message
}

func (r *recordingProducer) Send(_ context.Context, m courier.Message) error {
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, m)
	return nil
}
