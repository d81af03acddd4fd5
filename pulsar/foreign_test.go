package pulsar_test

import (
	"context"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/google/uuid"

	"github.com/courier-go/courier"
)

// TestForeignMessageWithoutEventTime: a message the bare client sends without an event time
// arrives with the broker's publish time as its Timestamp, and an ID whose time is that
// publish time (it used to be 1970-01-01, and an ID with a zero time part).
func TestForeignMessageWithoutEventTime(t *testing.T) {
	url := serviceURL(t)
	b := newBrokerAt(t, url)
	t.Cleanup(func() { _ = b.Close() })
	topic := "foreign-" + uuid.NewString()
	ctx := context.Background()
	c, err := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan courier.Message, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
			select {
			case got <- m:
			default:
			}
			return nil
		}))
	}()

	client, err := pulsarclient.NewClient(pulsarclient.ClientOptions{URL: url, Logger: plog.DefaultNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	p, err := client.CreateProducer(pulsarclient.ProducerOptions{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before := time.Now().Truncate(time.Millisecond)
	if _, err := p.Send(ctx, &pulsarclient.ProducerMessage{
		Payload: []byte("from the bare client"), Key: "k", Properties: map[string]string{"origin": "raw"},
	}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	var m courier.Message
	select {
	case m = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the foreign message was not delivered")
	}
	_ = c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if m.Timestamp.Before(before) || m.Timestamp.After(after) {
		t.Errorf("Timestamp %v, want the publish time, between %v and %v", m.Timestamp, before, after)
	}
	id, err := uuid.Parse(m.ID)
	if err != nil || id.Version() != 7 {
		t.Fatalf("ID %q is not a UUIDv7 (%v)", m.ID, err)
	}
	if sec, nsec := id.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != m.Timestamp.UnixMilli() {
		t.Errorf("ID %q carries time %v, want the Timestamp %v", m.ID, time.Unix(sec, nsec), m.Timestamp)
	}
	if m.Key != "k" || string(m.Value) != "from the bare client" || m.Headers["origin"] != "raw" {
		t.Errorf("got key %q value %q headers %v", m.Key, m.Value, m.Headers)
	}
}
