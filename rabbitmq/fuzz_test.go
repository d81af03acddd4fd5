package rabbitmq

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
)

// fuzzTable builds an AMQP table of typed values from data: each entry takes a type byte, a
// length byte and that many bytes of name and value; tables and arrays nest.
func fuzzTable(data []byte, depth int) (amqp.Table, []byte) {
	t := amqp.Table{}
	for len(data) >= 2 && len(t) < 32 {
		kind, n := data[0], int(data[1])
		data = data[2:]
		n = min(n, len(data))
		chunk := data[:n]
		data = data[n:]
		name := string(chunk[:len(chunk)/2])
		t[name] = fuzzValue(kind, chunk[len(chunk)/2:], depth)
	}
	return t, data
}

func fuzzValue(kind byte, b []byte, depth int) any {
	u := func() uint64 {
		var x [8]byte
		copy(x[:], b)
		return binary.LittleEndian.Uint64(x[:])
	}
	switch kind % 14 {
	case 0:
		return string(b)
	case 1:
		return b
	case 2:
		return len(b)%2 == 0
	case 3:
		return int8(u())
	case 4:
		return int16(u())
	case 5:
		return int32(u())
	case 6:
		return int64(u())
	case 7:
		return math.Float32frombits(uint32(u()))
	case 8:
		return math.Float64frombits(u())
	case 9:
		return amqp.Decimal{Scale: uint8(u()), Value: int32(u() >> 8)}
	case 10:
		return time.Unix(int64(u()%(1<<40)), 0)
	case 11:
		return nil
	case 12:
		if depth > 3 {
			return nil
		}
		t, _ := fuzzTable(b, depth+1)
		return t
	default:
		if depth > 3 {
			return nil
		}
		t, _ := fuzzTable(b, depth+1)
		var a []any
		for _, v := range t {
			a = append(a, v)
		}
		return a
	}
}

// FuzzDecodeDelivery decodes deliveries with arbitrary properties and typed headers, as
// other publishers may send them: never a panic; every message has an ID and a Timestamp;
// every header value of a typed (non-string) AMQP value is valid UTF-8 text.
func FuzzDecodeDelivery(f *testing.F) {
	f.Add("", "", "", "", uint8(0), []byte{0, 4, 'a', 'b', 'c', 'd'}, []byte("body"))
	f.Add("id-1", "application/json", "order.placed", "shop", uint8(5), []byte{1, 6, 'r', 'a', 'w', 0xff, 0xfe, 0, 9, 2, 'k', 1, 2}, []byte(nil))
	f.Add("x", "", "", "", uint8(0), []byte{12, 10, 't', 't', 't', 't', 't', 0, 2, 'a', 'b', 'c'}, []byte{})
	f.Fuzz(func(t *testing.T, id, contentType, typ, appID string, priority uint8, table, body []byte) {
		headers, _ := fuzzTable(table, 0)
		d := amqp.Delivery{MessageId: id, ContentType: contentType, Type: typ, AppId: appID, Priority: priority,
			Exchange: "e", RoutingKey: "rk", Headers: headers, Body: body}
		m := decode(&d)
		if m.ID == "" || m.Timestamp.IsZero() || m.Attempt < 1 {
			t.Fatalf("decoded %+v: no ID, Timestamp or Attempt", m)
		}
		for k, v := range headers {
			if _, isString := v.(string); isString || brokerHeader(k) {
				continue
			}
			if got, ok := m.Headers[k]; !ok || !utf8.ValidString(got) {
				t.Fatalf("typed header %q (%T) arrived as %q (present %v)", k, v, got, ok)
			}
		}
	})
}
