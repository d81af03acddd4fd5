package deduptest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

// DeliverTwice sends n messages (IDs "m0".."m<n-1>", keys spread over 7 values) twice each,
// as a producer retrying after lost replies would, to a memory broker, and consumes them with
// h in one group of two consumers with Concurrency 4 and a 1ms redelivery backoff. It returns
// once every copy has been acknowledged (h returned nil for it), or fails t after 30s. The
// caller then checks that each message's effect happened once.
func DeliverTwice(t *testing.T, h courier.MessageHandler, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan struct{}, 2*n)
	counted := courier.HandlerFunc(func(ctx context.Context, msg courier.Message) error {
		err := h.HandleMessage(ctx, msg)
		if err == nil {
			acked <- struct{}{}
		}
		return err
	})
	done := make(chan error, 2)
	for range 2 {
		c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}, Concurrency: 4,
			Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			c.Close()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		go func() { done <- c.Consume(ctx, counted) }()
	}
	for i := range n {
		msg := courier.Message{ID: fmt.Sprintf("m%d", i), Topic: "orders", Key: fmt.Sprint(i % 7)}
		if err := p.SendBatch(ctx, []courier.Message{msg, msg}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 * n {
		select {
		case <-acked:
		case <-ctx.Done():
			t.Fatalf("%d of %d copies acknowledged", i, 2*n)
		}
	}
}
