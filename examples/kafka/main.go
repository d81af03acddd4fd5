// Command kafka shows the Kafka adapter: keyed messages spread over partitions, handled with
// per-key order by a consumer group member, a failed attempt coming back in place, and a
// clean shutdown that commits what was handled.
//
//	go run ./examples/kafka                          # on an in-process cluster it starts itself
//	go run ./examples/kafka -brokers host1:9092,host2:9092
//
// With no -brokers it starts an embedded github.com/twmb/franz-go/pkg/kfake cluster, which
// speaks the real Kafka protocol, so it works with nothing installed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	brokers := flag.String("brokers", "", "Kafka brokers, host:port[,host:port...]; empty starts an embedded cluster")
	count := flag.Int("n", 12, "messages to send")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *brokers, *count); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, brokers string, count int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	if brokers == "" {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(3))
		if err != nil {
			return fmt.Errorf("start embedded cluster: %w", err)
		}
		defer cluster.Close()
		brokers = strings.Join(cluster.ListenAddrs(), ",")
		fmt.Printf("started an embedded Kafka cluster (kfake) at %s\n", brokers)
	}

	broker, err := kafka.New(ctx, kafka.Config{
		Brokers:           strings.Split(brokers, ","),
		CreateTopics:      true, // topics are created on first use, with 3 partitions
		TopicPartitions:   3,
		HeartbeatInterval: 200 * time.Millisecond, // quick rebalances for a short demo
	})
	if err != nil {
		return err
	}
	defer broker.Close()

	topic := fmt.Sprintf("courier-example-%d", time.Now().UnixNano())
	cfg := courier.ConsumerConfig{
		Group:       "courier-example",
		Topics:      []string{topic},
		Concurrency: 4, // different keys in parallel; one key at a time, in order
		Backoff:     courier.Backoff{Initial: 50 * time.Millisecond, Max: time.Second, Multiplier: 2},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	// The group exists before anything is sent, so it receives every message.
	consumer, err := broker.NewConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	defer consumer.Close()

	producer, err := broker.NewProducer(ctx)
	if err != nil {
		return err
	}
	defer producer.Close()
	var msgs []courier.Message
	for i := 1; i <= count; i++ {
		msgs = append(msgs, courier.Message{
			Topic:   topic,
			Key:     fmt.Sprintf("customer-%d", i%4), // a key always lands on the same partition
			Value:   []byte(fmt.Sprintf("order #%d", i)),
			Headers: map[string]string{"content-type": "text/plain"},
		})
	}
	if err := producer.SendBatch(ctx, msgs); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	fmt.Printf("sent %d messages to %s\n", count, topic)

	var mu sync.Mutex
	handled := map[string]bool{}
	done := make(chan struct{})
	handler := courier.HandlerFunc(func(ctx context.Context, msg courier.Message) error {
		if string(msg.Value) == "order #1" && msg.Attempt == 1 {
			fmt.Printf("  %-9s key=%s: failing attempt 1 on purpose; it comes back before later orders of its key\n", msg.Value, msg.Key)
			return errors.New("simulated failure")
		}
		mu.Lock()
		defer mu.Unlock()
		if !handled[msg.ID] {
			handled[msg.ID] = true
			fmt.Printf("  %-9s key=%s partition=%d offset=%d attempt=%d\n", msg.Value, msg.Key, msg.Partition, msg.Offset, msg.Attempt)
			if len(handled) == count {
				close(done)
			}
		}
		return nil
	})

	result := make(chan error, 1)
	go func() { result <- consumer.Consume(ctx, handler) }()
	select {
	case <-done:
	case err := <-result:
		return fmt.Errorf("consume ended early: %v", err)
	case <-ctx.Done():
		return fmt.Errorf("gave up waiting: %w", ctx.Err())
	}
	if err := consumer.Close(); err != nil { // commits the offsets of what was handled
		return err
	}
	if err := <-result; err != nil {
		return err
	}
	fmt.Printf("handled all %d messages; closed cleanly\n", count)
	return nil
}
