package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/rabbitmq"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Example sends and consumes through courier.Open. It needs a RabbitMQ at localhost, so it
// has no Output line: it is compiled, not run.
func Example() {
	ctx := context.Background()
	b, err := courier.Open(ctx, "amqp://guest:guest@localhost:5672/?queue_type=quorum&prefetch=64")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	// The group's queue exists once NewConsumer returns: messages sent from now on are kept.
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"}, Concurrency: 8})
	if err != nil {
		log.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	err = p.Send(ctx, courier.Message{Topic: "orders", Key: "customer-42", Value: []byte(`{"total":10}`)})
	if errors.Is(err, courier.ErrUnroutable) {
		log.Print("no queue is bound to orders") // with the default mandatory flag
	} else if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = c.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		fmt.Printf("%s key=%s attempt=%d\n", m.Value, m.Key, m.Attempt)
		return nil // acknowledged; an error would retry it after a backoff
	}))
}

// ExampleProducer_SendWith gives a message a time to live, and dead-letters messages that
// fail three times.
func ExampleProducer_SendWith() {
	ctx := context.Background()
	b, err := rabbitmq.New(ctx, rabbitmq.Config{
		URL:   "amqp://guest:guest@localhost:5672/",
		Queue: rabbitmq.QueueConfig{DeadLetterExchange: "orders.dead", MaxAttempts: 3},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	p, err := b.Producer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	err = p.SendWith(ctx, courier.Message{Topic: "orders", Value: []byte("quote")}, rabbitmq.WithTTL(30*time.Second))
	if err != nil {
		log.Fatal(err)
	}
}

// ExampleBroker_As reaches amqp091-go for a call courier does not cover: how many messages
// wait in a group's queue.
func ExampleBroker_As() {
	ctx := context.Background()
	b, err := rabbitmq.New(ctx, rabbitmq.Config{URL: "amqp://guest:guest@localhost:5672/"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	var conn *amqp.Connection
	if !b.As(&conn) {
		log.Fatal("reconnecting")
	}
	ch, err := conn.Channel() // a channel of our own; the connection stays the Broker's
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive("billing", true, false, false, false, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(q.Messages, "messages wait")
}
