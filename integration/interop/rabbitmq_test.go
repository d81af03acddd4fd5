package interop

import (
	"bytes"
	"context"
	"maps"
	neturl "net/url"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/rabbitmq"
)

// rabbitTarget returns a broker on the test RabbitMQ and its URL; the exchanges and the
// group's queues of the given topics are deleted at the test's end.
func rabbitTarget(t *testing.T, group string, topics ...string) (courier.Broker, string) {
	t.Helper()
	url := testenv.Broker(t, testenv.AMQPURL, nil)
	b, err := courier.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		deleteRabbit(t, url, group, topics...)
	})
	// rabbitmq-c reads "amqp://host/" as the empty vhost, amqp091-go as "/": give the tools
	// the URL without the slash, which both read as the default vhost.
	if u, err := neturl.Parse(url); err == nil && u.Path == "/" {
		u.Path = ""
		url = u.String()
	}
	return b, url
}

// deleteRabbit deletes the exchanges of topics and group's queues of them.
func deleteRabbit(t *testing.T, url, group string, topics ...string) {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, topic := range topics {
		if _, err := ch.QueueDelete(rabbitmq.QueueName(group, topic), false, false, false); err != nil {
			t.Errorf("cleanup: delete queue: %v", err)
		}
		if err := ch.ExchangeDelete(topic, false, false); err != nil {
			t.Errorf("cleanup: delete exchange: %v", err)
		}
	}
}

// TestAMQPPublishToCourier: a message amqp-publish sent (routing key, content-type, a header,
// no message-id, no timestamp) reaches a courier consumer with its key, the content-type and
// header as headers, and an ID and the time of receipt where it had none.
func TestAMQPPublishToCourier(t *testing.T) {
	publish := tool(t, "amqp-publish", "amqp-tools")
	topic := randomName("from-amqp-tools-")
	b, url := rabbitTarget(t, "g", topic)
	c := newConsumer(t, b, "g", topic) // declares the exchange and the group's queue
	before := time.Now()
	run(t, nil, publish, "-u", url, "-e", topic, "-r", "order.7", "-C", "application/json", "-H", "trace: abc", "-b", `{"n":1}`)
	m := receiveOne(t, b, c)
	after := time.Now()
	if m.Key != "order.7" || string(m.Value) != `{"n":1}` || m.Topic != topic {
		t.Errorf("got topic %q key %q value %q", m.Topic, m.Key, m.Value)
	}
	if want := map[string]string{"trace": "abc", "content-type": "application/json"}; !maps.Equal(m.Headers, want) {
		t.Errorf("headers %q, want %q", m.Headers, want)
	}
	between(t, "Timestamp", m.Timestamp, before, after)
	checkDerivedID(t, m.ID, m.Timestamp)
}

// TestCourierToAMQPGet: amqp-get reads the body courier sent, byte for byte, from the group's
// queue.
func TestCourierToAMQPGet(t *testing.T) {
	get := tool(t, "amqp-get", "amqp-tools")
	topic := randomName("to-amqp-tools-")
	b, url := rabbitTarget(t, "g", topic)
	c := newConsumer(t, b, "g", topic) // declares the queue amqp-get reads; never consumes
	defer c.Close()
	value := binaryValue()
	send(t, b, courier.Message{Topic: topic, Key: "k", Value: value})
	if out := run(t, nil, get, "-u", url, "-q", rabbitmq.QueueName("g", topic)); !bytes.Equal(out, value) {
		t.Errorf("amqp-get printed %d bytes that differ from the %d sent", len(out), len(value))
	}
}
