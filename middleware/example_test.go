package middleware_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/middleware"
)

// A consumer whose handler runs once per order even though the producer sent the order twice,
// with panics turned into errors and a bound on the handler's time.
func Example() {
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
	for range 2 { // a retry after a lost reply: the same ID twice
		if err := p.Send(ctx, courier.Message{ID: "order-1", Topic: "orders", Value: []byte("2 apples")}); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Send(ctx, courier.Message{ID: "order-2", Topic: "orders", Value: []byte("1 pear")}); err != nil {
		log.Fatal(err)
	}

	store, err := middleware.NewMemoryStore(middleware.MemoryStoreConfig{})
	if err != nil {
		log.Fatal(err)
	}
	dedup, err := middleware.Dedup(middleware.DedupConfig{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	timeout, err := middleware.Timeout(5 * time.Second)
	if err != nil {
		log.Fatal(err)
	}
	handled := make(chan string)
	h := courier.Chain(courier.HandlerFunc(func(ctx context.Context, msg courier.Message) error {
		handled <- fmt.Sprintf("%s: %s", msg.ID, msg.Value)
		return nil
	}), middleware.Logging(middleware.LoggingConfig{Logger: slog.New(slog.DiscardHandler)}),
		middleware.Recover(nil), dedup, timeout)

	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	go c.Consume(ctx, h)
	fmt.Println(<-handled)
	fmt.Println(<-handled)
	// Output:
	// order-1: 2 apples
	// order-2: 1 pear
}
