package redisstreams_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/redisstreams"
	"github.com/redis/go-redis/v9"
)

// Send a message to a stream and handle it in a consumer group. It needs a Redis server, so
// it is compiled but not run by go test.
func Example() {
	ctx := context.Background()
	// Importing the package registers redis:// and rediss:// with courier.Open.
	b, err := courier.Open(ctx, "redis://127.0.0.1:6379/0?prefix=example:&claim_idle=1m")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "billing", Topics: []string{"orders"}, Concurrency: 4})
	if err != nil {
		log.Fatal(err)
	}
	p, err := b.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	err = p.Send(ctx, courier.Message{Topic: "orders", Key: "customer-42", Value: []byte(`{"total":12.5}`),
		Headers: map[string]string{"content-type": "application/json"}})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = c.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		fmt.Printf("%s %s %s (attempt %d)\n", m.Topic, m.Key, m.Value, m.Attempt)
		cancel()   // one message is enough for the example
		return nil // acknowledged with XACK
	}))
	if err != nil {
		log.Fatal(err)
	}
}

// Make a Broker from a typed Config: every setting, and a Logger that its producers and
// consumers log to.
func ExampleNew() {
	ctx := context.Background()
	b, err := redisstreams.New(ctx, redisstreams.Config{
		URL:       "redis://127.0.0.1:6379/0?pool_size=20", // go-redis reads the connection settings
		Prefix:    "billing:",
		ClaimIdle: time.Minute,
		Logger:    slog.Default().With("service", "billing"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	// As reaches the go-redis client for what courier does not cover.
	var client redis.UniversalClient
	if b.As(&client) {
		n, err := client.XLen(ctx, "billing:orders").Result()
		fmt.Println(n, err)
	}
}

// Use a go-redis client of your own (here a cluster client); the Broker never closes it.
func ExampleNewWithClient() {
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379"}})
	defer client.Close()
	// The {orders} hash tag keeps the streams of one consumer in one cluster slot.
	b, err := redisstreams.NewWithClient(client, redisstreams.Config{Prefix: "{orders}:", TrimMaxAge: 7 * 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	fmt.Println("ready")
}
