package rabbitmq

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	amqp "github.com/rabbitmq/amqp091-go"
)

// deliver turns a publishing into the delivery a consumer would get.
func deliver(p amqp.Publishing, exchange, key string) amqp.Delivery {
	return amqp.Delivery{Headers: p.Headers, MessageId: p.MessageId, Timestamp: p.Timestamp, Body: p.Body,
		Exchange: exchange, RoutingKey: key, Expiration: p.Expiration}
}

func TestCodecRoundTrip(t *testing.T) {
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC)
	for _, m := range []courier.Message{
		{ID: "a", Topic: "t", Key: "k", Value: []byte("v"), Timestamp: ts, Headers: map[string]string{"x-request-id": "1", "h": ""}},
		{ID: "nil", Topic: "t", Value: nil, Timestamp: ts},
		{ID: "empty", Topic: "t", Value: []byte{}, Timestamp: ts},
	} {
		p := encode(m, 0)
		if p.DeliveryMode != amqp.Persistent || p.Expiration != "" {
			t.Errorf("%s: delivery mode %d, expiration %q", m.ID, p.DeliveryMode, p.Expiration)
		}
		got := decode(new(deliver(p, m.Topic, m.Key)))
		if got.ID != m.ID || got.Key != m.Key || got.Topic != m.Topic || !got.Timestamp.Equal(m.Timestamp) ||
			!bytes.Equal(got.Value, m.Value) || (got.Value == nil) != (m.Value == nil) || got.Attempt != 1 ||
			!maps.Equal(got.Headers, m.Headers) {
			t.Errorf("%s: decoded %+v, sent %+v", m.ID, got, m)
		}
	}
}

func TestCodecKeySurvivesRoutingRewrite(t *testing.T) {
	p := encode(courier.Message{ID: "a", Topic: "t", Key: "order-1", Timestamp: time.Now()}, 0)
	d := deliver(p, "dlx", "rewritten")
	d.Headers["x-death"] = []any{
		amqp.Table{"count": int64(1), "routing-keys": []any{"second-death"}},
		amqp.Table{"count": int64(1), "routing-keys": []any{"order-1"}},
	}
	d.Headers["x-first-death-reason"] = "rejected"
	d.Headers[headerDeliveryCount] = int64(2)
	got := decode(&d)
	if got.Key != "order-1" || got.Topic != "dlx" || len(got.Headers) != 0 || got.Attempt != 3 {
		t.Errorf("decoded %+v: want Key order-1 from the first death in x-death, Topic dlx, no broker headers, Attempt 3", got)
	}
}

func TestCodecForeignMessage(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	got := decode(&amqp.Delivery{MessageId: "m", Exchange: "e", RoutingKey: "rk", Timestamp: ts, Redelivered: true,
		Headers: amqp.Table{"n": int32(5)}})
	if got.Key != "rk" || !got.Timestamp.Equal(ts) || got.Headers["n"] != "5" || got.Attempt != 2 || got.Value == nil {
		t.Errorf("foreign message decoded as %+v", got)
	}
}

func TestCodecTTL(t *testing.T) {
	if e := encode(courier.Message{Topic: "t"}, 1500*time.Millisecond).Expiration; e != "1500" {
		t.Errorf("TTL 1.5s: expiration %q, want 1500", e)
	}
	if e := encode(courier.Message{Topic: "t"}, time.Microsecond).Expiration; e != "1" {
		t.Errorf("TTL 1µs: expiration %q, want at least 1ms", e)
	}
}

func TestCheckWire(t *testing.T) {
	long := strings.Repeat("x", 256)
	for _, m := range []courier.Message{{Topic: long}, {Topic: "t", Key: long}, {Topic: "t", ID: long}, {Topic: "amq.direct"}} {
		if err := checkWire(m); !errors.Is(err, courier.ErrInvalidMessage) {
			t.Errorf("checkWire(topic %.10q, key %.10q, id %.10q) = %v", m.Topic, m.Key, m.ID, err)
		}
	}
}
