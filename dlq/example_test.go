package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/dlq"
	_ "github.com/courier-go/courier/memory"
)

// Retry a message three times, dead-letter it when it keeps failing, and replay it once the
// cause is fixed.
func Example() {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // the example prints what matters itself
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := courier.Open(ctx, "memory://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	p, err := b.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Send(ctx, courier.Message{Topic: "orders", Value: []byte("order 1")}); err != nil {
		log.Fatal(err)
	}

	deadLetter, err := dlq.DeadLetter(p, dlq.DeadLetterConfig{Group: "billing"})
	if err != nil {
		log.Fatal(err)
	}
	failing := courier.HandlerFunc(func(context.Context, courier.Message) error {
		return errors.New("payment service down")
	})
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"},
		MaxAttempts: 3, Backoff: courier.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 2},
		OnExhausted: deadLetter})
	if err != nil {
		log.Fatal(err)
	}
	dead, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "ops", Topics: []string{dlq.DefaultTopic("orders", "billing")}})
	if err != nil {
		log.Fatal(err)
	}
	go c.Consume(ctx, failing)
	letters := make(chan courier.Message, 1)
	go dead.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		letters <- m
		return nil
	}))
	letter := <-letters
	c.Close()
	dead.Close()
	info, err := dlq.ParseInfo(letter)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s after %d attempts: %s\n", info.OriginalTopic, info.Reason, info.Attempts, info.Error)

	res, err := dlq.Replay(ctx, b, dlq.DefaultTopic("orders", "billing"), dlq.ReplayOptions{IdleTimeout: 500 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replayed:", res.Replayed)
	// Output:
	// orders: exhausted after 3 attempts: payment service down
	// replayed: 1
}
