package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestUnroutable checks that with the default mandatory flag a message no queue receives is
// reported, alone and within a pipelined batch, and that routable messages around it are not.
func TestUnroutable(t *testing.T) {
	b, tp := newTestBroker(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nobody := tp.exchange(randomName("courier-test-"))
	bound := tp.exchange(randomName("courier-test-"))
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	err = p.Send(ctx, courier.Message{Topic: nobody, Key: "k", Value: []byte("lost?")})
	if !errors.Is(err, courier.ErrUnroutable) {
		t.Fatalf("Send to an exchange with no queue: %v, want ErrUnroutable", err)
	}
	if !strings.Contains(err.Error(), nobody) {
		t.Errorf("error %q does not name the topic %q", err, nobody)
	}
	t.Logf("unroutable: %v", err)

	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: tp.queue(randomName("group-")), Topics: []string{bound}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var msgs []courier.Message
	for i := range 60 {
		topic := bound
		if i%3 == 1 {
			topic = nobody
		}
		msgs = append(msgs, courier.Message{ID: fmt.Sprintf("m-%02d", i), Topic: topic, Key: "same", Value: []byte{byte(i)}})
	}
	err = p.SendBatch(ctx, msgs)
	var be *courier.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("SendBatch with unroutable messages: %v, want a BatchError", err)
	}
	for i, e := range be.Errs {
		if want := i%3 == 1; want != errors.Is(e, courier.ErrUnroutable) || (!want && e != nil) {
			t.Errorf("message %d to %s: error %v", i, msgs[i].Topic, e)
		}
	}

	// The 40 routable ones arrived, once each.
	var mu sync.Mutex
	got := map[string]int{}
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(cctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			mu.Lock()
			got[m.ID]++
			mu.Unlock()
			return nil
		}))
	}()
	waitFor(t, 20*time.Second, "40 routable messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 40 })
	ccancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	for id := range got {
		var i int
		fmt.Sscanf(id, "m-%d", &i)
		if i%3 == 1 {
			t.Errorf("unroutable message %s was delivered", id)
		}
	}
}

// TestAllowUnroutable checks the mandatory flag can be turned off.
func TestAllowUnroutable(t *testing.T) {
	b, tp := newTestBroker(t, Config{AllowUnroutable: true})
	p, err := b.NewProducer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Send(context.Background(), courier.Message{Topic: tp.exchange(randomName("courier-test-")), Value: []byte("x")}); err != nil {
		t.Errorf("Send with AllowUnroutable: %v", err)
	}
}

// TestExchangeTypeMismatch checks that a topic whose exchange exists with another type is a
// clear error naming it, and that the producer goes on working for other topics.
func TestExchangeTypeMismatch(t *testing.T) {
	b, tp := newTestBroker(t, Config{AllowUnroutable: true})
	fanout := tp.exchange(randomName("courier-test-"))
	raw, err := amqp.Dial(b.cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ch, err := raw.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(fanout, "fanout", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	p, _ := b.NewProducer(context.Background())
	defer p.Close()
	err = p.Send(context.Background(), courier.Message{Topic: fanout, Value: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), fanout) || !strings.Contains(err.Error(), "PRECONDITION_FAILED") {
		t.Errorf("Send to a fanout exchange declared as topic: %v, want PRECONDITION_FAILED naming %q", err, fanout)
	}
	if err := p.Send(context.Background(), courier.Message{Topic: tp.exchange(randomName("courier-test-")), Value: []byte("x")}); err != nil {
		t.Errorf("Send to another topic after the failure: %v", err)
	}
}

// TestTTL checks WithTTL: the message expires in the queue; one sent without it stays.
func TestTTL(t *testing.T) {
	b, tp := newTestBroker(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic, group := tp.exchange(randomName("courier-test-")), tp.queue(randomName("group-"))
	c, err := b.Consumer(ctx, courier.ConsumerConfig{Group: group, Topics: []string{topic}}, QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, _ := b.Producer(ctx)
	defer p.Close()
	if err := p.SendWith(ctx, courier.Message{ID: "short-lived", Topic: topic, Value: []byte("x")}, WithTTL(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, courier.Message{ID: "kept", Topic: topic, Value: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	// Quorum queues drop expired messages when they reach the head: consume and see.
	got := make(chan string, 2)
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	time.Sleep(100 * time.Millisecond) // let the TTL pass: this is the behaviour under test, not a wait for a result
	go func() {
		done <- c.Consume(cctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error { got <- m.ID; return nil }))
	}()
	select {
	case id := <-got:
		if id != "kept" {
			t.Errorf("first delivery %q, want kept: the message with a 20ms TTL outlived it", id)
		}
	case <-ctx.Done():
		t.Fatal("nothing delivered")
	}
	ccancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
