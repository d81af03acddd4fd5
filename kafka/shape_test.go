package kafka_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/kafka"
)

// A client the caller passes in serves the Broker's producers and consumers, stays open
// after the Broker closes, and As reaches it.
func TestNewWithClient(t *testing.T) {
	brokers := kfakeBrokers(t)
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cfg := testConfig(nil, 0)
	cfg.Logger = quiet
	b, err := kafka.NewWithClient(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var c sarama.Client
	var admin sarama.ClusterAdmin
	if !b.As(&c) || c != client || !b.As(&admin) {
		t.Errorf("As(*sarama.Client) = %v, want the client given to NewWithClient; As(*sarama.ClusterAdmin) = %v", c, admin)
	}
	var s string
	if b.As(&s) || b.As(nil) || b.As((*sarama.Client)(nil)) {
		t.Error("As reported true for a target of another type")
	}
	topic := newTopic(t, b)
	brokertest.RoundTrip(t, b, topic, "round-trip")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if client.Closed() {
		t.Fatal("Broker.Close closed the caller's client")
	}
	if _, err := client.Partitions(topic); err != nil {
		t.Errorf("client unusable after Broker.Close: %v", err)
	}
}

// NewWithClient refuses what it cannot work with, saying why.
func TestNewWithClientRefuses(t *testing.T) {
	brokers := kfakeBrokers(t)
	sc := sarama.NewConfig() // Producer.Return.Successes is false by default
	sc.Version = sarama.V0_10_2_0
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	_, err = kafka.NewWithClient(client, kafka.Config{})
	for _, want := range []string{"Producer.Return.Successes", "0.11"} {
		if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("NewWithClient = %v, want an ErrInvalidConfig naming %q", err, want)
		}
	}
	if _, err := kafka.NewWithClient(nil, kafka.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("NewWithClient(nil) = %v, want ErrInvalidConfig", err)
	}
	if _, err := kafka.New(t.Context(), kafka.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("New without brokers = %v, want ErrInvalidConfig", err)
	}
}

// The broker's Logger, with the attributes the caller gave it, receives the consumer's logs.
func TestBrokerLogger(t *testing.T) {
	logs := brokertest.NewLogBuffer()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("app", "logger-test")
	cfg := testConfig(kfakeBrokers(t), 0)
	cfg.Logger = logger
	b := openBroker(t, cfg)
	defer b.Close()
	topic := newTopic(t, b)
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), courier.Message{Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "g", Topics: []string{topic},
		Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 2}})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.ConsumeFailingOnce(t, c, 20*time.Second)
	logs.WaitLine(t, 5*time.Second, `msg="courier: handler failed; retrying after backoff"`, "app=logger-test", "broker=kafka", "group=g")
}

func TestErrorForms(t *testing.T) {
	cfg := testConfig(kfakeBrokers(t), 1024)
	cfg.Logger = quiet
	b := openBroker(t, cfg)
	defer b.Close()
	brokertest.CheckErrorForms(t, b, "kafka", newTopic(t, b), 1024)
}

// A consumer's As hands out its sarama consumer group, and nothing else.
func TestConsumerAs(t *testing.T) {
	cfg := testConfig(kfakeBrokers(t), 0)
	cfg.Logger = quiet
	b := openBroker(t, cfg)
	defer b.Close()
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "g", Topics: []string{newTopic(t, b)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, ok := c.(interface{ As(any) bool })
	if !ok {
		t.Fatal("the consumer has no As method")
	}
	var g sarama.ConsumerGroup
	if !a.As(&g) || g == nil {
		t.Fatal("As(*sarama.ConsumerGroup) = false")
	}
	var client sarama.Client
	if a.As(&client) || a.As(nil) {
		t.Error("As reported true for a target of another type")
	}
}
