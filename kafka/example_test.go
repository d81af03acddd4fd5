package kafka_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Example sends three messages of one key and consumes them in order. It runs against an
// in-process cluster; give a real one in Config.Brokers (or open "kafka://host:9092").
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	ctx := context.Background()
	broker, err := kafka.New(ctx, kafka.Config{
		Brokers:         cluster.ListenAddrs(),
		CreateTopics:    true,
		TopicPartitions: 3,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()

	consumer, err := broker.NewConsumer(ctx, courier.ConsumerConfig{
		Group:  "billing",
		Topics: []string{"orders"},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		log.Fatal(err)
	}
	producer, err := broker.NewProducer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"created", "paid", "shipped"} {
		err := producer.Send(ctx, courier.Message{Topic: "orders", Key: "order-42", Value: []byte(v)})
		if err != nil {
			log.Fatal(err)
		}
	}

	got := make(chan string, 3)
	done := make(chan error, 1)
	go func() {
		done <- consumer.Consume(ctx, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
			got <- string(m.Value)
			return nil
		}))
	}()
	var values []string
	for range 3 {
		select {
		case v := <-got:
			values = append(values, v)
		case <-time.After(30 * time.Second):
			log.Fatal("timed out")
		}
	}
	_ = consumer.Close()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Join(values, " -> "))
	// Output: created -> paid -> shipped
}

// ExampleNewWithClient runs a Broker on a sarama client the program already has; the Broker
// never closes it. As reaches the client again for the calls courier does not cover.
func ExampleNewWithClient() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true // Send waits for its acknowledgement
	client, err := sarama.NewClient(cluster.ListenAddrs(), sc)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close() // after the Broker's Close: the client is the program's

	broker, err := kafka.NewWithClient(client, kafka.Config{Rebalance: "sticky"})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()

	var c sarama.Client
	if broker.As(&c) {
		parts, err := c.Partitions("orders")
		fmt.Println(len(parts), err)
	}
	// Output: 2 <nil>
}
