package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 10 * time.Second

// recorder wraps a memory producer, recording each SendBatch and optionally holding it at a
// gate until the test opens it.
type recorder struct {
	courier.Producer
	entered chan int // receives the size of each SendBatch as it starts

	mu      sync.Mutex
	batches [][]string // values of the messages of each SendBatch
	gate    chan struct{}
	fail    error
}

func newRecorder(t *testing.T, cfg memory.Config) (*recorder, *memory.Broker) {
	t.Helper()
	b, err := memory.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &recorder{Producer: p, entered: make(chan int, 100)}, b
}

func (r *recorder) SendBatch(ctx context.Context, msgs []courier.Message) error {
	r.entered <- len(msgs)
	r.mu.Lock()
	var vals []string
	for _, m := range msgs {
		vals = append(vals, string(m.Value))
	}
	r.batches = append(r.batches, vals)
	gate, fail := r.gate, r.fail
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return fail
	}
	return r.Producer.SendBatch(ctx, msgs)
}

func (r *recorder) got() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func newProducer(t *testing.T, inner courier.Producer, cfg Config) *Producer {
	t.Helper()
	p, err := New(inner, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// sendAll sends one message per value concurrently and returns the Send results by value.
func sendAll(ctx context.Context, p courier.Producer, topic string, values ...string) map[string]error {
	var mu sync.Mutex
	res := make(map[string]error)
	var wg sync.WaitGroup
	for _, v := range values {
		wg.Go(func() {
			err := p.Send(ctx, courier.Message{Topic: topic, Value: []byte(v)})
			mu.Lock()
			res[v] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return res
}

func noErrors(t *testing.T, res map[string]error) {
	t.Helper()
	for v, err := range res {
		if err != nil {
			t.Errorf("Send %q: %v", v, err)
		}
	}
}

// waitFor waits until cond holds, failing the test after timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition, not standing in for one
	}
}

func topicLen(t *testing.T, b *memory.Broker, topic string) int {
	t.Helper()
	s, ok := b.TopicStats(topic)
	if !ok {
		return 0
	}
	return s.Messages
}

func TestFlushByCount(t *testing.T) {
	r, b := newRecorder(t, memory.Config{})
	p := newProducer(t, r, Config{MaxMessages: 5, Linger: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	noErrors(t, sendAll(ctx, p, "t", "a", "b", "c", "d", "e"))
	if time.Since(start) > timeout/2 {
		t.Fatalf("count flush took %v", time.Since(start))
	}
	got := r.got()
	if len(got) != 1 || len(got[0]) != 5 {
		t.Fatalf("batches = %v, want one of 5", got)
	}
	if s := p.Stats(); s.ByTrigger[TriggerCount] != 1 || s.Batches != 1 || s.Messages != 5 {
		t.Fatalf("stats = %+v, want one count-triggered batch of 5", s)
	}
	if n := topicLen(t, b, "t"); n != 5 {
		t.Fatalf("topic has %d messages, want 5", n)
	}
}

func TestFlushByBytes(t *testing.T) {
	r, b := newRecorder(t, memory.Config{})
	msgSize := courier.Message{Topic: "t", Value: []byte("a"), ID: courier.NewID(time.Now())}.Size()
	// Two messages fit, a third would go past MaxBytes: it seals the first two and starts a
	// batch of its own, which only Close flushes (count and linger are out of reach).
	p := newProducer(t, r, Config{MaxMessages: 100, MaxBytes: msgSize * 5 / 2, Linger: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	first := make(chan map[string]error)
	go func() { first <- sendAll(ctx, p, "t", "a", "b") }()
	waitFor(t, "two messages pending", func() bool { return p.Pending() == 2 })
	third := make(chan error)
	go func() { third <- p.Send(ctx, courier.Message{Topic: "t", Value: []byte("c")}) }()
	noErrors(t, <-first)
	if got := r.got(); len(got) != 1 || len(got[0]) != 2 {
		t.Fatalf("batches = %v, want one of 2", got)
	}
	if s := p.Stats(); s.ByTrigger[TriggerBytes] != 1 {
		t.Fatalf("stats = %+v, want one bytes-triggered batch", s)
	}
	waitFor(t, "third message pending", func() bool { return p.Pending() == 1 })
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-third; err != nil {
		t.Fatalf("third Send: %v", err)
	}
	got := r.got()
	if len(got) != 2 || !slices.Equal(got[1], []string{"c"}) {
		t.Fatalf("batches = %v, want [a b] then [c]", got)
	}
	if s := p.Stats(); s.ByTrigger[TriggerClose] != 1 || s.ByTrigger[TriggerLinger] != 0 {
		t.Fatalf("stats = %+v, want the last batch flushed by Close", s)
	}
	if n := topicLen(t, b, "t"); n != 3 {
		t.Fatalf("topic has %d messages, want 3", n)
	}
}

func TestFlushBySizeOfOneLargeMessage(t *testing.T) {
	r, _ := newRecorder(t, memory.Config{})
	p := newProducer(t, r, Config{MaxMessages: 100, MaxBytes: 10, Linger: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.Send(ctx, courier.Message{Topic: "t", Value: make([]byte, 50)}); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.ByTrigger[TriggerBytes] != 1 || s.Messages != 1 {
		t.Fatalf("stats = %+v, want the large message sent alone on bytes", s)
	}
}

func TestFlushByLinger(t *testing.T) {
	r, _ := newRecorder(t, memory.Config{})
	const linger = 30 * time.Millisecond
	p := newProducer(t, r, Config{MaxMessages: 100, Linger: linger})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	noErrors(t, sendAll(ctx, p, "t", "a", "b"))
	if d := time.Since(start); d < linger {
		t.Fatalf("Send returned after %v, before the linger of %v", d, linger)
	}
	if got := r.got(); len(got) != 1 || len(got[0]) != 2 {
		t.Fatalf("batches = %v, want one of 2", got)
	}
	if s := p.Stats(); s.ByTrigger[TriggerLinger] != 1 || s.Batches != 1 {
		t.Fatalf("stats = %+v, want one linger-triggered batch", s)
	}
}

func TestErrorsReachEachSender(t *testing.T) {
	r, _ := newRecorder(t, memory.Config{MaxMessageBytes: 60})
	p := newProducer(t, r, Config{MaxMessages: 2, Linger: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	big := string(make([]byte, 100))
	res := sendAll(ctx, p, "t", "ok", big)
	if res["ok"] != nil {
		t.Fatalf("small message: %v", res["ok"])
	}
	if !errors.Is(res[big], courier.ErrMessageTooLarge) {
		t.Fatalf("large message: got %v, want ErrMessageTooLarge", res[big])
	}

	boom := errors.New("broker down")
	r.mu.Lock()
	r.fail = boom
	r.mu.Unlock()
	for v, err := range sendAll(ctx, p, "t", "x", "y") {
		if !errors.Is(err, boom) {
			t.Fatalf("Send %q: got %v, want the inner error", v, err)
		}
	}
}

func TestInvalidMessageFailsAtOnce(t *testing.T) {
	r, _ := newRecorder(t, memory.Config{})
	p := newProducer(t, r, Config{Linger: time.Hour})
	err := p.Send(context.Background(), courier.Message{Value: []byte("x")})
	if !errors.Is(err, courier.ErrInvalidMessage) {
		t.Fatalf("got %v, want ErrInvalidMessage", err)
	}
	if p.Pending() != 0 {
		t.Fatal("an invalid message was queued")
	}
}

func TestBackpressure(t *testing.T) {
	r, b := newRecorder(t, memory.Config{})
	gate := make(chan struct{})
	r.gate = gate
	p := newProducer(t, r, Config{MaxMessages: 1, MaxPending: 2, Linger: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	results := make(chan error, 3)
	go func() { results <- p.Send(ctx, courier.Message{Topic: "t", Value: []byte("a")}) }()
	<-r.entered // "a" is being sent and held at the gate
	go func() { results <- p.Send(ctx, courier.Message{Topic: "t", Value: []byte("b")}) }()
	waitFor(t, "b queued", func() bool { return p.Pending() == 2 })

	// The bound is reached: a Send with a short deadline gives up without sending.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	err := p.Send(short, courier.Message{Topic: "t", Value: []byte("late")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send at the bound: got %v, want DeadlineExceeded", err)
	}
	// Another waits, and goes through once the gate opens.
	go func() { results <- p.Send(ctx, courier.Message{Topic: "t", Value: []byte("c")}) }()
	close(gate)
	for range 3 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	for _, batch := range r.got() {
		if slices.Contains(batch, "late") {
			t.Fatal("a Send that gave up was sent anyway")
		}
	}
	if n := topicLen(t, b, "t"); n != 3 {
		t.Fatalf("topic has %d messages, want 3", n)
	}
}

func TestCancelWhileQueuedIsNeverSent(t *testing.T) {
	r, b := newRecorder(t, memory.Config{})
	p := newProducer(t, r, Config{MaxMessages: 10, Linger: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Send(ctx, courier.Message{Topic: "t", Value: []byte("gone")}) }()
	waitFor(t, "message queued", func() bool { return p.Pending() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("got %v, want context.Canceled (not sent)", err)
	}
	ok := make(chan error)
	go func() { ok <- p.Send(context.Background(), courier.Message{Topic: "t", Value: []byte("kept")}) }()
	waitFor(t, "second message queued", func() bool { return p.Pending() == 1 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ok; err != nil {
		t.Fatal(err)
	}
	if got := r.got(); len(got) != 1 || !slices.Equal(got[0], []string{"kept"}) {
		t.Fatalf("batches = %v, want only [kept]", got)
	}
	if n := topicLen(t, b, "t"); n != 1 {
		t.Fatalf("topic has %d messages, want 1", n)
	}
}

func TestCancelWhileInFlightSaysOutcomeUnknown(t *testing.T) {
	r, b := newRecorder(t, memory.Config{})
	gate := make(chan struct{})
	r.gate = gate
	p := newProducer(t, r, Config{MaxMessages: 1, Linger: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Send(ctx, courier.Message{Topic: "t", Value: []byte("x")}) }()
	<-r.entered
	cancel()
	err := <-done
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want ErrOutcomeUnknown and context.Canceled", err)
	}
	close(gate)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := topicLen(t, b, "t"); n != 1 {
		t.Fatalf("topic has %d messages, want the in-flight one sent", n)
	}
}

func TestClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // the flusher ends with Close
	r, b := newRecorder(t, memory.Config{})
	p := newProducer(t, r, Config{MaxMessages: 100, Linger: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res := make(chan map[string]error)
	go func() { res <- sendAll(ctx, p, "t", "a", "b", "c") }()
	waitFor(t, "three pending", func() bool { return p.Pending() == 3 })
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	noErrors(t, <-res)
	if n := topicLen(t, b, "t"); n != 3 {
		t.Fatalf("topic has %d messages after Close, want 3", n)
	}
	if err := p.Send(ctx, courier.Message{Topic: "t"}); !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	if err := p.SendBatch(ctx, []courier.Message{{Topic: "t"}}); !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("SendBatch after Close: %v, want ErrClosed", err)
	}
	if err := r.Producer.Send(ctx, courier.Message{Topic: "t"}); !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("inner producer still open after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCloseReportsFlushFailure(t *testing.T) {
	r, _ := newRecorder(t, memory.Config{})
	boom := errors.New("broker down")
	r.fail = boom
	p := newProducer(t, r, Config{MaxMessages: 100, Linger: time.Hour})
	done := make(chan error)
	go func() { done <- p.Send(context.Background(), courier.Message{Topic: "t", Value: []byte("a")}) }()
	waitFor(t, "message pending", func() bool { return p.Pending() == 1 })
	if err := p.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v, want the flush failure", err)
	}
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("Send: %v, want the flush failure", err)
	}
}

func TestCloseReleasesBlockedSenders(t *testing.T) {
	r, _ := newRecorder(t, memory.Config{})
	gate := make(chan struct{})
	r.gate = gate
	p := newProducer(t, r, Config{MaxMessages: 1, MaxPending: 1, Linger: time.Hour})
	first := make(chan error)
	go func() { first <- p.Send(context.Background(), courier.Message{Topic: "t", Value: []byte("a")}) }()
	<-r.entered
	blocked := make(chan error)
	go func() { blocked <- p.Send(context.Background(), courier.Message{Topic: "t", Value: []byte("b")}) }()
	waitFor(t, "sender waiting for room", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.space.Waiting()
	})
	closed := make(chan error)
	go func() { closed <- p.Close() }()
	if err := <-blocked; !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("blocked Send: %v, want ErrClosed", err)
	}
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentSendersShareBatches(t *testing.T) {
	r, b := newRecorder(t, memory.Config{})
	p := newProducer(t, r, Config{MaxMessages: 16, Linger: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var values []string
	for i := range 400 {
		values = append(values, fmt.Sprint(i))
	}
	noErrors(t, sendAll(ctx, p, "t", values...))
	s := p.Stats()
	if s.Messages != 400 || s.Batches >= 400 {
		t.Fatalf("stats = %+v: want 400 messages in fewer than 400 batches", s)
	}
	seen := map[string]bool{}
	for _, batch := range r.got() {
		if len(batch) > 16 {
			t.Fatalf("batch of %d exceeds MaxMessages", len(batch))
		}
		for _, v := range batch {
			if seen[v] {
				t.Fatalf("%s sent twice", v)
			}
			seen[v] = true
		}
	}
	if n := topicLen(t, b, "t"); n != 400 {
		t.Fatalf("topic has %d messages, want 400", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{MaxMessages: -1}, "negative MaxMessages"},
		{Config{MaxBytes: -1}, "negative MaxBytes"},
		{Config{Linger: -1}, "negative Linger"},
		{Config{MaxPending: 5, MaxMessages: 10}, "MaxPending 5 is below MaxMessages 10"},
		{Config{MaxPending: -1}, "negative MaxPending"},
		{Config{SendTimeout: -1}, "negative SendTimeout"},
	} {
		err := c.cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.cfg, err)
		case c.want != "" && (err == nil || !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: got %v, want an ErrInvalidConfig saying %q", c.cfg, err, c.want)
		}
	}
	if _, err := New(nil, Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("New(nil): %v", err)
	}
}

func TestSendBatchGoesStraightThrough(t *testing.T) {
	r, b := newRecorder(t, memory.Config{})
	p := newProducer(t, r, Config{MaxMessages: 100, Linger: time.Hour})
	msgs := []courier.Message{{Topic: "t", Value: []byte("x")}, {Topic: "t", Value: []byte("y")}}
	if err := p.SendBatch(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if got := r.got(); len(got) != 1 || !slices.Equal(got[0], []string{"x", "y"}) {
		t.Fatalf("inner batches %v, want [x y] at once", got)
	}
	if s := p.Stats(); s.Batches != 0 || p.Pending() != 0 {
		t.Fatalf("stats %+v, pending %d: SendBatch must not go through the buffer", s, p.Pending())
	}
	if n := topicLen(t, b, "t"); n != 2 {
		t.Fatalf("topic has %d messages, want 2", n)
	}
}
