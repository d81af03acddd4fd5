// Command quickstart produces a few messages and consumes them, on the embedded in-memory
// broker by default, or on any broker given with -url:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -url redis://127.0.0.1:6379/0
//
// It shows the whole API: Open, a producer, a consumer with a handler, a failed attempt that
// comes back, and a clean shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/memory" // registers memory://
)

func main() {
	url := flag.String("url", "memory://", "broker URL (memory://, redis://, amqp://, kafka://, pulsar://)")
	count := flag.Int("n", 5, "messages to send")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *url, *count); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url string, count int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	broker, err := courier.Open(ctx, url)
	if err != nil {
		return err
	}
	defer broker.Close()

	topic := fmt.Sprintf("quickstart-%d", time.Now().UnixNano())
	// Create the group before sending, so that it receives every message on any broker.
	consumer, err := broker.NewConsumer(ctx, courier.ConsumerConfig{
		Group:       "quickstart",
		Topics:      []string{topic},
		Concurrency: 2,
		Backoff:     courier.Backoff{Initial: 50 * time.Millisecond, Max: time.Second, Multiplier: 2},
	})
	if err != nil {
		return err
	}
	defer consumer.Close()

	producer, err := broker.NewProducer(ctx)
	if err != nil {
		return err
	}
	defer producer.Close()
	for i := 1; i <= count; i++ {
		msg := courier.Message{
			Topic:   topic,
			Key:     fmt.Sprintf("order-%d", i%2), // same key: handled in send order
			Value:   []byte(fmt.Sprintf("hello #%d", i)),
			Headers: map[string]string{"content-type": "text/plain"},
		}
		if err := producer.Send(ctx, msg); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	fmt.Printf("sent %d messages to %s on %s\n", count, topic, url)

	var mu sync.Mutex
	handled := 0
	done := make(chan struct{})
	handler := courier.HandlerFunc(func(ctx context.Context, msg courier.Message) error {
		if string(msg.Value) == "hello #1" && msg.Attempt == 1 {
			fmt.Printf("  %s: failing attempt %d on purpose; it will come back\n", msg.Value, msg.Attempt)
			return errors.New("simulated failure")
		}
		mu.Lock()
		defer mu.Unlock()
		handled++
		fmt.Printf("  received %q key=%s attempt=%d\n", msg.Value, msg.Key, msg.Attempt)
		if handled == count {
			close(done)
		}
		return nil
	})

	consumeErr := make(chan error, 1)
	go func() { consumeErr <- consumer.Consume(ctx, handler) }()
	select {
	case <-done:
	case err := <-consumeErr:
		return fmt.Errorf("consume ended early: %v", err)
	case <-ctx.Done():
		return fmt.Errorf("gave up waiting: %w", ctx.Err())
	}
	if err := consumer.Close(); err != nil {
		return err
	}
	if err := <-consumeErr; err != nil {
		return err
	}
	fmt.Printf("handled all %d messages; closed cleanly\n", count)
	return nil
}
