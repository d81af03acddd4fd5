package memory_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/memory"
)

// The broker's Logger, with the attributes the caller gave it, receives the consumer's logs
// (the engine's retry warning) and the broker's own (a retention loss).
func TestBrokerLogger(t *testing.T) {
	logs := brokertest.NewLogBuffer()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("app", "logger-test")
	b, err := memory.New(t.Context(), memory.Config{MaxMessagesPerTopic: 1, Logger: logger})
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
	for _, v := range []string{"dropped", "kept"} {
		if err := p.Send(t.Context(), courier.Message{Topic: "logged", Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	brokertest.ConsumeFailingOnce(t, c, 10*time.Second)
	logs.WaitLine(t, 5*time.Second, `msg="courier: handler failed; retrying after backoff"`, "app=logger-test", "broker=memory", "group=g")
	logs.WaitLine(t, 5*time.Second, `msg="memory: retention dropped messages the group had not read"`, "app=logger-test", "broker=memory")
}

func TestErrorForms(t *testing.T) {
	b, err := memory.New(t.Context(), memory.Config{MaxMessageBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokertest.RoundTrip(t, b, "orders", "round-trip")
	brokertest.CheckErrorForms(t, b, "memory", "orders", 1024)
}
