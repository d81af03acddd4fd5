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
		Exchange: exchange, RoutingKey: key, Expiration: p.Expiration, ContentType: p.ContentType,
		ContentEncoding: p.ContentEncoding, CorrelationId: p.CorrelationId, ReplyTo: p.ReplyTo, Type: p.Type,
		AppId: p.AppId, UserId: p.UserId, Priority: p.Priority}
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

// TestCodecForeignWithoutIDOrTimestamp: a message another publisher sent without message-id
// or timestamp gets an ID and the time it was received (it used to get neither).
func TestCodecForeignWithoutIDOrTimestamp(t *testing.T) {
	before := time.Now().Add(-time.Millisecond)
	got := decode(&amqp.Delivery{Exchange: "e", RoutingKey: "rk", Body: []byte("x")})
	after := time.Now()
	if got.ID == "" {
		t.Error("a message without message-id got no ID")
	}
	if got.Timestamp.Before(before) || got.Timestamp.After(after) {
		t.Errorf("Timestamp %v, want the time of receipt (between %v and %v)", got.Timestamp, before, after)
	}
	if again := decode(&amqp.Delivery{MessageId: "theirs", Exchange: "e"}); again.ID != "theirs" {
		t.Errorf("message-id %q arrived as ID %q", "theirs", again.ID)
	}
}

// TestCodecTypedHeaders: typed AMQP header values arrive in their documented text form, not
// Go's %v ("[114 97 119]" for a byte array, "map[a:b]" for a table).
func TestCodecTypedHeaders(t *testing.T) {
	ts := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
	got := decode(&amqp.Delivery{Exchange: "e", Headers: amqp.Table{
		"str":     "s",
		"bytes":   []byte("raw"),
		"binary":  []byte{0xff, 0x00},
		"bool":    true,
		"int8":    int8(-8),
		"int64":   int64(1) << 40,
		"uint32":  uint32(7),
		"float":   float32(0.1),
		"double":  1e21,
		"decimal": amqp.Decimal{Scale: 3, Value: 12345},
		"negdec":  amqp.Decimal{Scale: 2, Value: -5},
		"time":    ts,
		"void":    nil,
		"table":   amqp.Table{"b": "x", "a": int32(1), "c": []byte("y")},
		"array":   []any{"a", int16(2), false, amqp.Table{"k": ts}},
	}})
	want := map[string]string{
		"str":     "s",
		"bytes":   "raw",
		"binary":  "base64:/wA=",
		"bool":    "true",
		"int8":    "-8",
		"int64":   "1099511627776",
		"uint32":  "7",
		"float":   "0.1",
		"double":  "1e+21",
		"decimal": "12.345",
		"negdec":  "-0.05",
		"time":    "2024-02-29T23:59:58Z",
		"void":    "",
		"table":   `{"a":1,"b":"x","c":"y"}`,
		"array":   `["a",2,false,{"k":"2024-02-29T23:59:58Z"}]`,
	}
	if !maps.Equal(got.Headers, want) {
		for k, w := range want {
			if got.Headers[k] != w {
				t.Errorf("header %q = %q, want %q", k, got.Headers[k], w)
			}
		}
		if len(got.Headers) != len(want) {
			t.Errorf("headers %q, want %q", got.Headers, want)
		}
	}
}

// TestCodecProperties: AMQP properties are readable as headers, the common ones settable
// through headers of the same name, and a header that shares a property's name loses
// neither.
func TestCodecProperties(t *testing.T) {
	sent := courier.Message{ID: "id", Topic: "t", Value: []byte("{}"), Timestamp: time.Unix(1, 0), Headers: map[string]string{
		HeaderContentType: "application/json", HeaderContentEncoding: "gzip", HeaderCorrelationID: "c-1",
		HeaderReplyTo: "replies", HeaderType: "order.placed", HeaderAppID: "shop", "plain": "p",
	}}
	p := encode(sent, 0)
	if p.ContentType != "application/json" || p.ContentEncoding != "gzip" || p.CorrelationId != "c-1" ||
		p.ReplyTo != "replies" || p.Type != "order.placed" || p.AppId != "shop" {
		t.Errorf("properties not set from headers: %+v", p)
	}
	for _, k := range []string{HeaderContentType, HeaderType, HeaderAppID} {
		if _, inTable := p.Headers[k]; inTable {
			t.Errorf("header %q sent in the table as well as the property", k)
		}
	}
	if got := decode(new(deliver(p, "t", ""))); !maps.Equal(got.Headers, sent.Headers) {
		t.Errorf("headers came back as %q, sent %q", got.Headers, sent.Headers)
	}
	long := strings.Repeat("t", maxShortString+1) // too long for a property: stays a header
	if p := encode(courier.Message{Topic: "t", Headers: map[string]string{HeaderType: long}}, 0); p.Type != "" || p.Headers[HeaderType] != long {
		t.Errorf("a %d-byte type went to the property (%d bytes) instead of the table", len(long), len(p.Type))
	}

	foreign := decode(&amqp.Delivery{Exchange: "e", ContentType: "text/plain", UserId: "guest", Priority: 5,
		Expiration: "60000", Type: "prop-type", Headers: amqp.Table{"type": "header-type"}})
	want := map[string]string{HeaderContentType: "text/plain", HeaderUserID: "guest", HeaderPriority: "5",
		HeaderExpiration: "60000", "type": "header-type", "amqp-type": "prop-type"}
	if !maps.Equal(foreign.Headers, want) {
		t.Errorf("foreign properties arrived as %q, want %q", foreign.Headers, want)
	}
}
