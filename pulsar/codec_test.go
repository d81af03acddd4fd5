package pulsar

import (
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
		encode(&pm, map[string]string{}, m, 0)
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
