package cqrs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // skipped types are logged on purpose
	goleak.VerifyTestMain(m)
}

const timeout = 10 * time.Second

var fast = courier.Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, Multiplier: 2}

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

// consume runs h on group's messages of topic in the background until the test ends.
func consume(t *testing.T, b courier.Broker, group, topic string, h courier.MessageHandler) {
	t.Helper()
	consumeWith(t, b, courier.ConsumerConfig{Group: group, Topics: []string{topic}}, h)
}

// consumeWith runs a consumer of cfg (with the fast backoff) until the test ends.
func consumeWith(t *testing.T, b courier.Broker, cfg courier.ConsumerConfig, h courier.MessageHandler) {
	t.Helper()
	cfg.Backoff = fast
	c, err := b.NewConsumer(context.Background(), cfg)
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

// waitFor waits until cond holds, checking it each time notify fires.
func waitFor(t *testing.T, notify <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-notify:
		case <-deadline:
			t.Fatal("timed out waiting for a condition")
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// eventually waits until cond holds, checking it every millisecond, for conditions that
// nothing signals (a projection's Status, a model caught up by a running projection).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
