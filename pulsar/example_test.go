package pulsar_test

import (
	"context"
	"fmt"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/pulsar" // also registers pulsar:// and pulsar+ssl://
	"github.com/courier-go/courier/pulsar/pulsartest"
)

// Example opens a Pulsar broker by URL (here the in-process pulsartest
// server) and round-trips a message through a Key_Shared group.
func Example() {
	srv, err := pulsartest.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	b, err := courier.Open(ctx, srv.URL()+"?send_timeout=5s")
	if err != nil {
		panic(err)
	}
	defer b.Close()

	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
	if err != nil {
		panic(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		panic(err)
	}
	if err := p.Send(ctx, courier.Message{Topic: "orders", Key: "order-1", Value: []byte("created")}); err != nil {
		panic(err)
	}

	done := make(chan struct{})
	go func() {
		_ = c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			fmt.Printf("%s %s: %s (attempt %d)\n", m.Topic, m.Key, m.Value, m.Attempt)
			close(done)
			return nil
		}))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Println("timed out")
	}
	_ = c.Close()
	_ = p.Close()
	// Output: orders order-1: created (attempt 1)
}

// ExampleNewWithClient runs a Broker on a pulsar-client-go client the program
// already has (the Broker never closes it), and reaches that client again
// through As for a call courier does not cover.
func ExampleNewWithClient() {
	srv, err := pulsartest.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	client, err := pulsarclient.NewClient(pulsarclient.ClientOptions{URL: srv.URL()})
	if err != nil {
		panic(err)
	}
	defer client.Close() // after the Broker's Close: the client is the program's

	b, err := pulsar.NewWithClient(client, pulsar.Config{SubscriptionType: pulsar.Failover})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	var c pulsarclient.Client
	fmt.Println(b.As(&c), c == client)
	// Output: true true
}
