package logbroker_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/driver/example/logbroker"
)

// The adapter at work through courier's interfaces, the engine retrying a message in its
// place and then giving it to OnExhausted, the next message of its key waiting.
func Example() {
	ctx := context.Background()
	b, err := courier.Open(ctx, "logbroker://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"},
		MaxAttempts: 2, Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1},
		OnExhausted: func(_ context.Context, m courier.Message, err error) error {
			fmt.Printf("gave up on %s: %v\n", m.Value, err)
			return nil // acknowledged: dropped
		}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"bad", "good"} {
		if err := p.Send(ctx, courier.Message{Topic: "orders", Key: "customer-1", Value: []byte(v)}); err != nil {
			log.Fatal(err)
		}
	}
	done := make(chan struct{})
	go c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		fmt.Printf("%s, attempt %d\n", m.Value, m.Attempt)
		if string(m.Value) == "bad" {
			return errors.New("cannot charge")
		}
		close(done)
		return nil
	}))
	<-done
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// bad, attempt 1
	// bad, attempt 2
	// gave up on bad: courier: gave up after attempt 2 (attempts exhausted): cannot charge
	// good, attempt 1
}
