// Package integration runs the pattern packages (batch, dlq) against real brokers, found by
// internal/testenv from the COURIER_* variables, and against the memory broker for reference.
package integration

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/memory"
)

func TestMain(m *testing.M) {
	// Warnings (adapters' and the middleware's) help to read a failure; go test shows them only
	// for a package that failed, or with -v.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		testenv.Report()
		os.Exit(code)
	}))
}

const timeout = 20 * time.Second

// target is a broker the tests run on.
type target struct {
	name string
	// open returns a broker for one test, closed at its end, or skips the test.
	open func(t testing.TB) courier.Broker
	// unsettled returns how many messages of topic group has not acknowledged, when b is
	// this target's broker (mine); call it once the group's consumers have stopped.
	unsettled func(t testing.TB, b courier.Broker, topic, group string) (n int64, mine bool)
}

// targets lists the brokers; files for real brokers add theirs in init.
var targets = []target{{
	name: "memory",
	open: func(t testing.TB) courier.Broker { return openURL(t, "memory://") },
	unsettled: func(t testing.TB, b courier.Broker, topic, group string) (int64, bool) {
		mb, mine := b.(*memory.Broker)
		if !mine {
			return 0, false
		}
		s, ok := mb.TopicStats(topic)
		if !ok {
			t.Fatalf("memory: no topic %q", topic)
		}
		g := s.Groups[group]
		return int64(g.Redeliver) + s.Next - g.Next, true
	},
}}

func openURL(t testing.TB, url string) courier.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	b, err := courier.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// onEach runs test on every target, as subtests named after the broker.
func onEach(t *testing.T, test func(t *testing.T, b courier.Broker)) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) { test(t, tg.open(t)) })
	}
}

// name returns a topic or group name no other test run uses: real brokers keep them.
func name(what string) string { return fmt.Sprintf("it-%s-%08x", what, rand.Uint32()) }

// fast is the backoff the tests' consumers and retries use: short, without jitter.
var fast = courier.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2}

// deliveries forwards every message a handler gets to a channel, then answers with fn.
type deliveries struct {
	ch chan courier.Message
	fn func(courier.Message) error
}

func newDeliveries(fn func(courier.Message) error) *deliveries {
	return &deliveries{ch: make(chan courier.Message, 1000), fn: fn}
}

func (d *deliveries) HandleMessage(_ context.Context, m courier.Message) error {
	d.ch <- m
	if d.fn != nil {
		return d.fn(m)
	}
	return nil
}

// next returns the next n deliveries, failing the test after timeout.
func (d *deliveries) next(t *testing.T, n int) []courier.Message {
	t.Helper()
	var got []courier.Message
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m := <-d.ch:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("timed out: %d of %d deliveries", len(got), n)
		}
	}
	return got
}

// run consumes with h until the returned stop is called (also at the test's end).
func run(t *testing.T, b courier.Broker, cfg courier.ConsumerConfig, h courier.MessageHandler) (stop func()) {
	t.Helper()
	if cfg.Backoff == (courier.Backoff{}) {
		cfg.Backoff = fast
	}
	c, err := b.NewConsumer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Consume(context.Background(), h) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Consume: %v", err)
			}
		case <-time.After(timeout):
			t.Error("Consume did not return after Close")
		}
	}
	t.Cleanup(stop)
	return stop
}

func newProducer(t testing.TB, b courier.Broker) courier.Producer {
	t.Helper()
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func send(t *testing.T, p courier.Producer, msgs ...courier.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, m := range msgs {
		if err := p.Send(ctx, m); err != nil {
			t.Fatalf("Send to %q: %v", m.Topic, err)
		}
	}
}

func ok[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
