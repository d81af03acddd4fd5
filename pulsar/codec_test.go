package pulsar

import (
	"strings"
	"testing"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
)

func TestMetaRoundTrip(t *testing.T) {
	ts := time.Unix(1700000000, 123456789)
	for _, m := range []courier.Message{
		{Topic: "t", Key: "k", ID: "plain", Timestamp: ts},
		{Topic: "t", ID: "semi;colons;inside", Timestamp: ts},
		{Topic: "t", Key: "k", ID: ";", Timestamp: time.Unix(-5, 7)},
	} {
		var pm pulsarclient.ProducerMessage
		encode(&pm, map[string]string{}, m, 0, true)
		if len(pm.Properties) != 1 {
			t.Fatalf("%q: properties %v, want only %s", m.ID, pm.Properties, propMeta)
		}
		gotTS, keyless, id, ok := parseMeta(pm.Properties[propMeta])
		if !ok || id != m.ID || !gotTS.Equal(m.Timestamp) || keyless != (m.Key == "") {
			t.Errorf("%q: parseMeta(%q) = %v, %v, %q, %v", m.ID, pm.Properties[propMeta], gotTS, keyless, id, ok)
		}
		if m.Key == "" && pm.Key == "" {
			t.Errorf("%q: keyless message got no spreading Pulsar key", m.ID)
		}
	}
}

func TestParseMetaRejectsForeignValues(t *testing.T) {
	for _, v := range []string{"", "123", "123;key", "x;key;id", "123;other;id", ";key;id"} {
		if _, _, _, ok := parseMeta(v); ok {
			t.Errorf("parseMeta(%q) accepted a value courier did not write", v)
		}
	}
}

// TestMetaOnlyWhenNeeded: a message whose ID Send fills in, with a whole-millisecond
// timestamp and a payload, goes without properties (keyless, with a spreading key); each of
// the other cases keeps propMeta.
func TestMetaOnlyWhenNeeded(t *testing.T) {
	ms := time.UnixMilli(1700000000123)
	for _, c := range []struct {
		name     string
		m        courier.Message
		callerID bool
		meta     bool
	}{
		{"plain keyed", courier.Message{Topic: "t", Key: "k", Value: []byte("v"), Timestamp: ms}, false, false},
		{"plain keyless", courier.Message{Topic: "t", Value: []byte("v"), Timestamp: ms}, false, false},
		{"caller's ID", courier.Message{Topic: "t", ID: "id", Value: []byte("v"), Timestamp: ms}, true, true},
		{"nanoseconds", courier.Message{Topic: "t", Value: []byte("v"), Timestamp: ms.Add(7)}, false, true},
		{"empty payload", courier.Message{Topic: "t", Value: []byte{}, Timestamp: ms}, false, true},
		{"key like a spreading key", courier.Message{Topic: "t", Key: keylessKeys[3], Value: []byte("v"), Timestamp: ms}, false, true},
	} {
		var pm pulsarclient.ProducerMessage
		encode(&pm, map[string]string{}, c.m, 0, c.callerID)
		if _, has := pm.Properties[propMeta]; has != c.meta {
			t.Errorf("%s: %s present %v, want %v", c.name, propMeta, has, c.meta)
		}
		if c.m.Key == "" && !strings.HasPrefix(pm.Key, keylessPrefix) {
			t.Errorf("%s: keyless message got Pulsar key %q, want a spreading one", c.name, pm.Key)
		}
		if !pm.EventTime.Equal(c.m.Timestamp.Truncate(time.Millisecond)) && !c.meta {
			t.Errorf("%s: event time %v, want %v", c.name, pm.EventTime, c.m.Timestamp)
		}
	}
}
