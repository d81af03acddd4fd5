// Command batch shows both sides of package batch: 200 concurrent senders share batches
// through a batch.Producer, and a consumer hands the messages to a BatchHandler 20 at a time.
//
//	go run ./examples/batch [-url memory://]   (or -url redis://127.0.0.1:6379/0)
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/batch"
	_ "github.com/courier-go/courier/memory"
	_ "github.com/courier-go/courier/redisstreams"
)

const total = 200

func main() {
	url := flag.String("url", "memory://", "broker URL")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *url); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url string) error {
	b, err := courier.Open(ctx, url)
	if err != nil {
		return err
	}
	defer b.Close()
	topic := fmt.Sprintf("clicks-%d", time.Now().UnixNano())

	// The consumer side first, so that its group exists before the messages are sent.
	cc := courier.ConsumerConfig{Group: "loader", Topics: []string{topic}, Concurrency: 20}
	hc := batch.HandlerConfig{MaxSize: 20, MaxWait: 50 * time.Millisecond}
	if err := hc.CheckConsumer(cc); err != nil {
		return err
	}
	c, err := b.NewConsumer(ctx, cc)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	loaded, batches := 0, 0
	all := make(chan struct{})
	h, err := batch.NewHandler(batch.BatchHandlerFunc(func(_ context.Context, msgs []courier.Message) error {
		mu.Lock() // stands for one INSERT of len(msgs) rows
		defer mu.Unlock()
		loaded += len(msgs)
		batches++
		if loaded == total {
			close(all)
		}
		return nil
	}), hc)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, h) }()

	inner, err := b.NewProducer(ctx)
	if err != nil {
		return err
	}
	p, err := batch.New(inner, batch.Config{MaxMessages: 50, Linger: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for i := range total { // one goroutine per request, as in a server
		wg.Go(func() {
			if err := p.Send(ctx, courier.Message{Topic: topic, Value: fmt.Appendf(nil, "click %d", i)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		return err
	}
	close(errs)
	if err, failed := <-errs; failed {
		return err
	}
	s := p.Stats()
	fmt.Printf("sent %d messages in %d batches (by count %d, by linger %d)\n",
		s.Messages, s.Batches, s.ByTrigger[batch.TriggerCount], s.ByTrigger[batch.TriggerLinger])

	select {
	case <-all:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the consumer: %w", ctx.Err())
	}
	if err := c.Close(); err != nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("loaded %d messages in %d batches\n", loaded, batches)
	return nil
}
