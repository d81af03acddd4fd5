package pulsar_test

import (
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/pulsar"
)

// A client the caller passes in serves the Broker, stays open after the Broker closes, and
// As reaches it.
func TestNewWithClient(t *testing.T) {
	client, err := pulsarclient.NewClient(pulsarclient.ClientOptions{URL: serviceURL(t), OperationTimeout: 10 * time.Second,
		Logger: plog.NewLoggerWithSlog(testLogger())})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	b, err := pulsar.NewWithClient(client, pulsar.Config{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var c pulsarclient.Client
	if !b.As(&c) || c != client {
		t.Errorf("As(*pulsar.Client) = %v, want the client given to NewWithClient", c)
	}
	var s string
	if b.As(&s) || b.As(nil) {
		t.Error("As reported true for a target of another type")
	}
	brokertest.RoundTrip(t, b, "with-client-before", "round-trip")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The client still works: a producer of its own sends.
	raw, err := client.CreateProducer(pulsarclient.ProducerOptions{Topic: "with-client-after"})
	if err != nil {
		t.Fatalf("client closed by Broker.Close: %v", err)
	}
	defer raw.Close()
	if _, err := raw.Send(t.Context(), &pulsarclient.ProducerMessage{Payload: []byte("x")}); err != nil {
		t.Errorf("client closed by Broker.Close: %v", err)
	}
	if _, err := pulsar.NewWithClient(nil, pulsar.Config{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("NewWithClient(nil) = %v, want ErrInvalidConfig", err)
	}
}

// The broker's Logger, with the attributes the caller gave it, receives the consumer's logs
// (the engine's retry warning) and the client library's warnings.
func TestBrokerLogger(t *testing.T) {
	logs := brokertest.NewLogBuffer()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("app", "logger-test")
	b, err := pulsar.New(t.Context(), pulsar.Config{URL: serviceURL(t), OperationTimeout: 10 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "g", Topics: []string{"logged"},
		Backoff: courier.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 2}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), courier.Message{Topic: "logged", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	brokertest.ConsumeFailingOnce(t, c, 10*time.Second)
	logs.WaitLine(t, 5*time.Second, `msg="courier: handler failed; retrying after backoff"`, "app=logger-test", "broker=pulsar", "group=g")

	// The client's own warnings: a broker whose cluster is gone fails to connect.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, err = pulsar.New(t.Context(), pulsar.Config{URL: "pulsar://" + addr, ConnectTimeout: 300 * time.Millisecond,
		ConnectionTimeout: 100 * time.Millisecond, Logger: logger.With("cluster", "gone")})
	if err == nil {
		t.Fatal("New on a cluster that is gone succeeded")
	}
	logs.WaitLine(t, 5*time.Second, "level=WARN", "app=logger-test", "cluster=gone", addr)
}

func TestErrorForms(t *testing.T) {
	b, err := pulsar.New(t.Context(), pulsar.Config{URL: serviceURL(t), MaxMessageBytes: 1024, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokertest.CheckErrorForms(t, b, "pulsar", "orders", 1024)
}

// A consumer's As hands out its pulsar.Consumer, and nothing else.
func TestConsumerAs(t *testing.T) {
	b := newBroker(t)
	defer b.Close()
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: "as-group", Topics: []string{"as-topic"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, ok := c.(interface{ As(any) bool })
	if !ok {
		t.Fatal("the consumer has no As method")
	}
	var pc pulsarclient.Consumer
	if !a.As(&pc) || pc.Subscription() != "as-group" {
		t.Fatalf("As(*pulsar.Consumer) set %v, want the group's consumer", pc)
	}
	var client pulsarclient.Client
	if a.As(&client) || a.As(nil) {
		t.Error("As reported true for a target of another type")
	}
}
