package rabbitmq

import (
	"log/slog"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
)

// As hands out the producers' live connection, on which a channel of the caller's reaches
// what courier does not cover (here: inspecting the group's queue), and refuses other targets.
func TestAs(t *testing.T) {
	b, tp := newTestBroker(t, Config{})
	group := tp.queue(randomName("group-"))
	topic := tp.exchange(randomName("courier-test-"))
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), courier.Message{Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	var conn *amqp.Connection
	if !b.As(&conn) || conn == nil {
		t.Fatal("As(**amqp.Connection) = false on a connected broker")
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(QueueName(group, topic), true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 1 {
		t.Errorf("queue %s holds %d messages through As, want 1", q.Name, q.Messages)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	var s string
	if b.As(&s) || b.As(nil) || b.As((**amqp.Connection)(nil)) {
		t.Error("As reported true for a target of another type")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b.As(&conn) {
		t.Error("As handed out a connection after Close")
	}
}

// The broker's Logger, with the attributes the caller gave it, receives the consumer's logs.
func TestBrokerLogger(t *testing.T) {
	logs := brokertest.NewLogBuffer()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("app", "logger-test")
	b, tp := newTestBroker(t, Config{Logger: logger})
	group := tp.queue(randomName("group-"))
	topic := tp.exchange(randomName("courier-test-"))
	c, err := b.NewConsumer(t.Context(), courier.ConsumerConfig{Group: group, Topics: []string{topic}, Backoff: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.NewProducer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(t.Context(), courier.Message{Topic: topic, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	brokertest.ConsumeFailingOnce(t, c, 20*time.Second)
	logs.WaitLine(t, 5*time.Second, `msg="courier: handler failed; retrying after backoff"`, "app=logger-test", "broker=rabbitmq", "group="+group)
}

func TestErrorForms(t *testing.T) {
	b, tp := newTestBroker(t, Config{MaxMessageBytes: 1024})
	topic := tp.exchange(randomName("courier-test-"))
	brokertest.RoundTrip(t, b, topic, tp.queue(randomName("group-")))
	brokertest.CheckErrorForms(t, b, "rabbitmq", topic, 1024)
}
