package rabbitmq

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// consume runs c.Consume in the background until the test ends, checking it returns nil.
func consume(t *testing.T, c courier.Consumer, h courier.HandlerFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
}

var fastRetry = courier.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2}

// TestDeadLetterAfterMaxAttempts checks broker-native dead-lettering: a message whose handler
// keeps failing is rejected after MaxAttempts and reaches the dead-letter exchange with its
// ID, Key and Headers intact.
func TestDeadLetterAfterMaxAttempts(t *testing.T) {
	b, tp := newTestBroker(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic, dlx := tp.exchange(randomName("courier-test-")), tp.exchange(randomName("courier-dlx-"))
	// The dead-letter queue is a plain courier group on the DLX, so it is declared first.
	dlq, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: tp.queue(randomName("dlq-")), Topics: []string{dlx}})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	work, err := b.Consumer(ctx, courier.ConsumerConfig{Group: tp.queue(randomName("group-")), Topics: []string{topic}, Backoff: fastRetry},
		QueueConfig{DeadLetterExchange: dlx, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer work.Close()
	var attempts []int
	var mu sync.Mutex
	consume(t, work, func(_ context.Context, m courier.Message) error {
		mu.Lock()
		attempts = append(attempts, m.Attempt)
		mu.Unlock()
		if m.ID == "poison" {
			return errors.New("cannot handle this")
		}
		return nil
	})
	dead := make(chan courier.Message, 2)
	consume(t, dlq, func(_ context.Context, m courier.Message) error { dead <- m; return nil })
	sent := courier.Message{ID: "poison", Topic: topic, Key: "order-7", Value: []byte("bad"), Headers: map[string]string{"tenant": "acme"}}
	p, _ := b.NewProducer(ctx)
	defer p.Close()
	if err := p.Send(ctx, sent); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-dead:
		if m.ID != sent.ID || m.Key != sent.Key || string(m.Value) != "bad" || !maps.Equal(m.Headers, sent.Headers) {
			t.Errorf("dead-lettered message %+v differs from the one sent %+v", m, sent)
		}
		if m.Topic != dlx {
			t.Errorf("dead-lettered message's Topic %q, want the DLX %q", m.Topic, dlx)
		}
	case <-ctx.Done():
		t.Fatal("the poison message never reached the dead-letter exchange")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 3 || attempts[0] != 1 || attempts[2] != 3 {
		t.Errorf("attempts %v, want [1 2 3] before dead-lettering", attempts)
	}
}

// TestAttemptFromDeliveryCount checks that a message the broker delivers again (its consumer
// went away without acking) comes with Attempt from the quorum queue's x-delivery-count.
func TestAttemptFromDeliveryCount(t *testing.T) {
	b, tp := newTestBroker(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic, group := tp.exchange(randomName("courier-test-")), tp.queue(randomName("group-"))
	cfg := courier.ConsumerConfig{Group: group, Topics: []string{topic}, DrainTimeout: 10 * time.Millisecond}
	first, err := b.NewConsumer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := b.NewProducer(ctx)
	defer p.Close()
	if err := p.Send(ctx, courier.Message{ID: "again", Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	inHandler := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- first.Consume(ctx, courier.HandlerFunc(func(hctx context.Context, m courier.Message) error {
			close(inHandler)
			<-hctx.Done() // never finishes: released when the consumer closes
			return hctx.Err()
		}))
	}()
	select {
	case <-inHandler:
	case <-ctx.Done():
		t.Fatal("message never delivered to the first consumer")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	second, err := b.NewConsumer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	got := make(chan courier.Message, 1)
	consume(t, second, func(_ context.Context, m courier.Message) error { got <- m; return nil })
	select {
	case m := <-got:
		if m.Attempt != 2 {
			t.Errorf("redelivered message has Attempt %d, want 2", m.Attempt)
		}
	case <-ctx.Done():
		t.Fatal("released message not redelivered")
	}
}

// TestSingleActiveConsumer checks that with SingleActiveConsumer only one consumer of the group
// receives messages while both run.
func TestSingleActiveConsumer(t *testing.T) {
	b, tp := newTestBroker(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic, group := tp.exchange(randomName("courier-test-")), tp.queue(randomName("group-"))
	cfg := courier.ConsumerConfig{Group: group, Topics: []string{topic}, Concurrency: 4}
	q := QueueConfig{SingleActiveConsumer: true}
	var counts [2]atomic.Int64
	for i := range 2 {
		c, err := b.Consumer(ctx, cfg, q)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		consume(t, c, func(context.Context, courier.Message) error { counts[i].Add(1); return nil })
	}
	p, _ := b.NewProducer(ctx)
	defer p.Close()
	msgs := make([]courier.Message, 200)
	for i := range msgs {
		msgs[i] = courier.Message{Topic: topic, Value: []byte("x")}
	}
	if err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "200 messages", func() bool { return counts[0].Load()+counts[1].Load() >= 200 })
	if a, b := counts[0].Load(), counts[1].Load(); a != 0 && b != 0 {
		t.Errorf("both consumers received messages (%d and %d) from a single-active-consumer queue", a, b)
	}
}

// TestQueueArgumentsMismatch checks that Consume reports a queue the broker has with other
// arguments instead of retrying forever, and NewConsumer too.
func TestQueueArgumentsMismatch(t *testing.T) {
	b, tp := newTestBroker(t, Config{})
	ctx := context.Background()
	topic, group := tp.exchange(randomName("courier-test-")), tp.queue(randomName("group-"))
	c, err := b.Consumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}}, QueueConfig{Type: Classic})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = b.Consumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}}, QueueConfig{Type: Quorum})
	if err == nil || !refused(err) {
		t.Fatalf("NewConsumer for a classic queue as quorum: %v, want PRECONDITION_FAILED", err)
	}
	t.Logf("mismatch: %v", err)
}
