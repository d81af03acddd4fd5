package pulsartest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"

	"github.com/courier-go/courier/pulsar/pulsartest"
)

// Example runs a server and uses the unmodified Pulsar client against it.
func Example() {
	srv, err := pulsartest.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	client, err := pulsar.NewClient(pulsar.ClientOptions{
		URL:              srv.URL(),
		OperationTimeout: 5 * time.Second,
		Logger:           plog.DefaultNopLogger(),
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	consumer, err := client.Subscribe(pulsar.ConsumerOptions{
		Topic:            "orders",
		SubscriptionName: "billing",
		Type:             pulsar.Shared,
	})
	if err != nil {
		panic(err)
	}
	defer consumer.Close()

	producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: "orders"})
	if err != nil {
		panic(err)
	}
	defer producer.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := producer.Send(ctx, &pulsar.ProducerMessage{Key: "order-1", Payload: []byte("created")}); err != nil {
		panic(err)
	}
	msg, err := consumer.Receive(ctx)
	if err != nil {
		panic(err)
	}
	_ = consumer.Ack(msg)
	fmt.Printf("%s: %s\n", msg.Key(), msg.Payload())
	// Output: order-1: created
}
