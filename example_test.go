package courier_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/memory"
)

// Open a broker by URL, create a group, send, and consume until the message is handled.
func Example() {
	ctx := context.Background()
	broker, err := courier.Open(ctx, "memory://")
	if err != nil {
		panic(err)
	}
	defer broker.Close()

	consumer, err := broker.NewConsumer(ctx, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
	if err != nil {
		panic(err)
	}
	producer, err := broker.NewProducer(ctx)
	if err != nil {
		panic(err)
	}
	defer producer.Close()
	if err := producer.Send(ctx, courier.Message{Topic: "orders", Key: "customer-42", Value: []byte(`{"total":12}`)}); err != nil {
		panic(err)
	}

	done := make(chan struct{})
	go func() {
		<-done
		consumer.Close() // Consume returns nil once in-flight handlers are done
	}()
	err = consumer.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, msg courier.Message) error {
		fmt.Printf("%s %s %s attempt=%d\n", msg.Topic, msg.Key, msg.Value, msg.Attempt)
		close(done)
		return nil // acknowledges the message
	}))
	fmt.Println("consume returned:", err)
	// Output:
	// orders customer-42 {"total":12} attempt=1
	// consume returned: <nil>
}

// Chain composes middleware around a handler, the first outermost.
func ExampleChain() {
	logging := func(next courier.MessageHandler) courier.MessageHandler {
		return courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
			fmt.Println("before", m.ID)
			err := next.HandleMessage(ctx, m)
			fmt.Println("after", m.ID, err)
			return err
		})
	}
	h := courier.Chain(courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		fmt.Println("handling", m.ID)
		return nil
	}), logging)
	_ = h.HandleMessage(context.Background(), courier.Message{ID: "m1"})
	// Output:
	// before m1
	// handling m1
	// after m1 <nil>
}

// A consumer that must not go past a message it cannot handle: after three attempts
// StopConsumer ends Consume with an error, and the message stays with the broker.
func ExampleStopConsumer() {
	ctx := context.Background()
	broker, err := courier.Open(ctx, "memory://")
	if err != nil {
		panic(err)
	}
	defer broker.Close()
	consumer, err := broker.NewConsumer(ctx, courier.ConsumerConfig{Group: "ledger", Topics: []string{"entries"},
		MaxAttempts: 3, Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1},
		OnExhausted: courier.StopConsumer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	producer, err := broker.NewProducer(ctx)
	if err != nil {
		panic(err)
	}
	defer producer.Close()
	if err := producer.Send(ctx, courier.Message{ID: "e1", Topic: "entries", Value: []byte("debit 10")}); err != nil {
		panic(err)
	}
	err = consumer.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, msg courier.Message) error {
		fmt.Println("attempt", msg.Attempt)
		return errors.New("account locked")
	}))
	fmt.Println(errors.Is(err, courier.ErrStop))
	fmt.Println(err)
	// Output:
	// attempt 1
	// attempt 2
	// attempt 3
	// true
	// memory: group "ledger": courier: consumer stopped by OnExhausted: message e1 on "entries": courier: gave up after attempt 3 (attempts exhausted): account locked
}
