package pulsar

import (
	"maps"
	"strconv"
	"strings"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
)

// Properties that carry courier's own fields; courier refuses user headers
// with this prefix, so they cannot clash.
const (
	propID        = courier.ReservedHeaderPrefix + "id"
	propTimestamp = courier.ReservedHeaderPrefix + "timestamp" // Unix nanoseconds, then keylessMark if keyless
	// keylessMark ends the timestamp property of a message sent without a key,
	// whose Pulsar key is then one of keylessKeys. It rides on the timestamp
	// because every property costs the client work on every message.
	keylessMark = ";keyless"
)

// keylessSpread is how many Pulsar keys messages without a courier key rotate
// over. Key_Shared routes an entry (a batch) by its key, and a batch carries
// the partition key, not the ordering key: without a key every keyless
// message of a topic would go to the same consumer of a group.
const keylessSpread = 16

// keylessRun is how many consecutive keyless messages share a Pulsar key, so
// that they still fill one batch: batches hold a single key.
const keylessRun = 64

var keylessKeys = func() []string {
	ks := make([]string, keylessSpread)
	for i := range ks {
		ks[i] = courier.ReservedHeaderPrefix + "spread-" + strconv.Itoa(i)
	}
	return ks
}()

// encode turns a prepared message into a Pulsar one; n picks the Pulsar key
// of a keyless message.
func encode(m courier.Message, n uint32) *pulsarclient.ProducerMessage {
	props := make(map[string]string, len(m.Headers)+2)
	maps.Copy(props, m.Headers)
	props[propID] = m.ID
	ts := strconv.FormatInt(m.Timestamp.UnixNano(), 10)
	pm := &pulsarclient.ProducerMessage{
		Payload:    m.Value,
		Key:        m.Key,
		Properties: props,
		EventTime:  m.Timestamp,
	}
	if m.Key == "" {
		pm.Key = keylessKeys[(n/keylessRun)%keylessSpread]
		ts += keylessMark
	}
	props[propTimestamp] = ts
	return pm
}

// decode turns a delivered Pulsar message into a courier one. topic is the
// courier topic it was subscribed as.
func decode(pm pulsarclient.Message, topic string) courier.Message {
	m := courier.Message{
		Topic:   topic,
		Key:     pm.Key(),
		Value:   pm.Payload(),
		Attempt: int(pm.RedeliveryCount()) + 1,
	}
	for k, v := range pm.Properties() {
		switch {
		case k == propID:
			m.ID = v
		case k == propTimestamp:
			v, keyless := strings.CutSuffix(v, keylessMark)
			if keyless {
				m.Key = ""
			}
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				m.Timestamp = time.Unix(0, ns)
			}
		case strings.HasPrefix(k, courier.ReservedHeaderPrefix):
		default:
			if m.Headers == nil {
				m.Headers = map[string]string{}
			}
			m.Headers[k] = v
		}
	}
	if m.ID == "" { // not sent by courier
		m.ID = pm.ID().String()
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = pm.EventTime()
		if m.Timestamp.IsZero() {
			m.Timestamp = pm.PublishTime()
		}
	}
	return m
}

// canonicalTopic spells a topic as the client reports it on messages
// ("orders" is "persistent://public/default/orders").
func canonicalTopic(t string) string {
	if strings.Contains(t, "://") {
		return t
	}
	if strings.Count(t, "/") == 2 {
		return "persistent://" + t
	}
	return "persistent://public/default/" + t
}

// basePartitionTopic strips the "-partition-N" suffix of a partition's name.
func basePartitionTopic(t string) string {
	i := strings.LastIndex(t, "-partition-")
	if i < 0 {
		return t
	}
	if _, err := strconv.Atoi(t[i+len("-partition-"):]); err != nil {
		return t
	}
	return t[:i]
}
