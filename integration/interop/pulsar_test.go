package interop

import (
	"bytes"
	"context"
	"maps"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"

	"github.com/courier-go/courier"
	_ "github.com/courier-go/courier/pulsar"
	"github.com/courier-go/courier/pulsar/pulsartest"
)

// pulsarTarget starts pulsartest and returns its URL, courier on it and a bare client.
func pulsarTarget(t *testing.T) (string, courier.Broker, pulsarclient.Client) {
	t.Helper()
	srv, err := pulsartest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	b, err := courier.Open(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	client, err := pulsarclient.NewClient(pulsarclient.ClientOptions{URL: srv.URL(), Logger: plog.DefaultNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return srv.URL(), b, client
}

// TestPulsarClientToCourier: messages the bare client sends, with and without an event time,
// reach a courier consumer with key, properties and payload, and a real timestamp (the event
// time, else the publish time) in their Timestamp and ID.
func TestPulsarClientToCourier(t *testing.T) {
	_, b, client := pulsarTarget(t)
	topic := randomName("from-client-")
	c := newConsumer(t, b, "g", topic)
	p, err := client.CreateProducer(pulsarclient.ProducerOptions{Topic: topic, DisableBatching: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	value := binaryValue()
	eventTime := time.UnixMilli(1767225600123)
	ctx := context.Background()
	if _, err := p.Send(ctx, &pulsarclient.ProducerMessage{Payload: value, Key: "k-1", EventTime: eventTime,
		Properties: map[string]string{"trace": "abc"}}); err != nil {
		t.Fatal(err)
	}
	m := receiveOne(t, b, c)
	if m.Key != "k-1" || !bytes.Equal(m.Value, value) || !maps.Equal(m.Headers, map[string]string{"trace": "abc"}) {
		t.Errorf("got key %q, %d-byte value, headers %q", m.Key, len(m.Value), m.Headers)
	}
	if !m.Timestamp.Equal(eventTime) {
		t.Errorf("Timestamp %v, want the event time %v", m.Timestamp, eventTime)
	}
	checkDerivedID(t, m.ID, m.Timestamp)
}

// TestCourierToPulsarClient: the bare client reads what courier sent as a plain message: key,
// properties, payload and event time, with no courier property when none is needed.
func TestCourierToPulsarClient(t *testing.T) {
	_, b, client := pulsarTarget(t)
	topic := randomName("to-client-")
	cons, err := client.Subscribe(pulsarclient.ConsumerOptions{Topic: topic, SubscriptionName: "raw",
		SubscriptionInitialPosition: pulsarclient.SubscriptionPositionEarliest})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	value := binaryValue()
	ts := time.UnixMilli(1767225600456)
	send(t, b, courier.Message{Topic: topic, Key: "k-2", Value: value, Timestamp: ts, Headers: map[string]string{"content-type": "application/octet-stream"}})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := cons.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = cons.Ack(m)
	if m.Key() != "k-2" || !bytes.Equal(m.Payload(), value) || !m.EventTime().Equal(ts) {
		t.Errorf("bare client read key %q, %d-byte payload, event time %v", m.Key(), len(m.Payload()), m.EventTime())
	}
	if want := map[string]string{"content-type": "application/octet-stream"}; !maps.Equal(m.Properties(), want) {
		t.Errorf("properties %q, want %q", m.Properties(), want)
	}
}
