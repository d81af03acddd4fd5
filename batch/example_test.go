package batch_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/batch"
	_ "github.com/courier-go/courier/memory"
)

// Concurrent senders share batches; each Send returns its own message's result.
func ExampleProducer() {
	ctx := context.Background()
	b, err := courier.Open(ctx, "memory://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	inner, err := b.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	p, err := batch.New(inner, batch.Config{MaxMessages: 10, Linger: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if err := p.Send(ctx, courier.Message{Topic: "events", Value: fmt.Appendf(nil, "event %d", i)}); err != nil {
				log.Print(err)
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		log.Fatal(err)
	}
	s := p.Stats()
	fmt.Printf("%d messages in %d batch, flushed by %v\n", s.Messages, s.Batches, batch.TriggerCount)
	// Output: 10 messages in 1 batch, flushed by count
}

// A BatchHandler under a consumer whose Concurrency lets batches of 5 form.
func ExampleHandler() {
	ctx, cancel := context.WithCancel(context.Background())
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
	for i := range 5 {
		if err := p.Send(ctx, courier.Message{Topic: "rows", Value: fmt.Appendf(nil, "row %d", i)}); err != nil {
			log.Fatal(err)
		}
	}
	cc := courier.ConsumerConfig{Group: "loader", Topics: []string{"rows"}, Concurrency: 5}
	hc := batch.HandlerConfig{MaxSize: 5, MaxWait: time.Second}
	if err := hc.CheckConsumer(cc); err != nil {
		log.Fatal(err)
	}
	c, err := b.NewConsumer(ctx, cc)
	if err != nil {
		log.Fatal(err)
	}
	h, err := batch.NewHandler(batch.BatchHandlerFunc(func(ctx context.Context, msgs []courier.Message) error {
		fmt.Printf("inserting %d rows at once\n", len(msgs))
		cancel() // one batch is enough for the example
		return nil
	}), hc)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Consume(ctx, h); err != nil {
		log.Fatal(err)
	}
	// Output: inserting 5 rows at once
}
