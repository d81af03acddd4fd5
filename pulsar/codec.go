package pulsar

import (
	"maps"
	"strconv"
	"strings"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/recordid"
	"github.com/google/uuid"
)

// propMeta is the property that carries courier's own fields, as
// "<timestamp>;<mark>;<id>": the timestamp in Unix nanoseconds, mark
// keyMark or keylessMark, then the ID (which may itself hold ';'). One
// property rather than one per field, because the client converts and
// encodes every property of every message twice (message and batch
// metadata); courier refuses user headers with this prefix, so it cannot
// clash.
const propMeta = courier.ReservedHeaderPrefix + "meta"

// Marks in propMeta: keylessMark says the message was sent without a key and
// its Pulsar key is one of keylessKeys.
const (
	keyMark     = "key"
	keylessMark = "nokey"
)

// keylessSpread is how many Pulsar keys messages without a courier key rotate
// over. Key_Shared routes an entry (a batch) by its key, and a batch carries
// the partition key, not the ordering key: without a key every keyless
// message of a topic would go to the same consumer of a group.
const keylessSpread = 16

// keylessRun is how many consecutive keyless messages share a Pulsar key, so
// that they still fill one batch: batches hold a single key.
const keylessRun = 64

// keylessPrefix begins every keylessKeys key. A message without propMeta whose key has it
// was sent without a key; a caller's key that has it makes its message carry propMeta.
const keylessPrefix = courier.ReservedHeaderPrefix + "spread-"

var keylessKeys = func() []string {
	ks := make([]string, keylessSpread)
	for i := range ks {
		ks[i] = keylessPrefix + strconv.Itoa(i)
	}
	return ks
}()

// encode turns a prepared message into pm, with props (empty) as its properties; n picks
// the Pulsar key of a keyless message. propMeta is written only when something needs it: an
// ID the caller set (an ID Send filled in is not sent, the consumer derives one from the
// message ID: see recordid), a timestamp finer than the event time's milliseconds, a key
// that looks like a spreading key, or an empty payload (the client drops an unbatched empty
// message without properties). The client encodes every property of every message twice,
// so most messages going without one is most of what the adapter would cost.
func encode(pm *pulsarclient.ProducerMessage, props map[string]string, m courier.Message, n uint32, callerID bool) {
	maps.Copy(props, m.Headers)
	mark := keyMark
	*pm = pulsarclient.ProducerMessage{
		Payload:    m.Value,
		Key:        m.Key,
		Properties: props,
		EventTime:  m.Timestamp,
	}
	if m.Key == "" {
		pm.Key = keylessKeys[(n/keylessRun)%keylessSpread]
		mark = keylessMark
	}
	if !callerID && recordid.SubMilli(m.Timestamp) == 0 && len(m.Value) > 0 && !strings.HasPrefix(m.Key, keylessPrefix) {
		return
	}
	var buf [64]byte
	meta := strconv.AppendInt(buf[:0], m.Timestamp.UnixNano(), 10)
	meta = append(meta, ';')
	meta = append(meta, mark...)
	meta = append(meta, ';')
	meta = append(meta, m.ID...)
	props[propMeta] = string(meta)
}

// parseMeta reads a propMeta value; ok is false if v is not one.
func parseMeta(v string) (ts time.Time, keyless bool, id string, ok bool) {
	nsText, rest, ok1 := strings.Cut(v, ";")
	mark, id, ok2 := strings.Cut(rest, ";")
	ns, err := strconv.ParseInt(nsText, 10, 64)
	if !ok1 || !ok2 || err != nil || (mark != keyMark && mark != keylessMark) {
		return time.Time{}, false, "", false
	}
	return time.Unix(0, ns), mark == keylessMark, id, true
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
	meta := false
	for k, v := range pm.Properties() {
		switch {
		case k == propMeta:
			if ts, keyless, id, ok := parseMeta(v); ok {
				meta = true
				m.Timestamp, m.ID = ts, id
				if keyless {
					m.Key = ""
				}
			}
		case strings.HasPrefix(k, courier.ReservedHeaderPrefix):
		default:
			if m.Headers == nil {
				m.Headers = map[string]string{}
			}
			m.Headers[k] = v
		}
	}
	if !meta && strings.HasPrefix(m.Key, keylessPrefix) {
		m.Key = "" // sent without a key, given a spreading one
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = messageTime(pm)
	}
	if m.ID == "" { // sent without an ID, or not by courier
		m.ID = messageUUID(pm.ID(), topic, m.Timestamp)
	}
	return m
}

// messageTime is a message's event time, or its publish time when it has none. The client
// reports a missing event time as the Unix epoch (time.Unix(0, 0)), not as the zero Time.
func messageTime(pm pulsarclient.Message) time.Time {
	if et := pm.EventTime(); !et.IsZero() && et.UnixMilli() != 0 {
		return et
	}
	return pm.PublishTime()
}

// messageUUID derives the ID of a message that carries none from its message ID, the same
// for every subscription and every delivery (see recordid). The position is a hash of the
// ledger, entry and batch index: unlike Kafka's offsets they do not fit 62 bits as they are.
func messageUUID(id pulsarclient.MessageID, topic string, ts time.Time) string {
	pos := recordid.Hash(uint64(id.LedgerID())*0x9e3779b97f4a7c15 ^ recordid.Hash(uint64(id.EntryID())<<16^uint64(uint32(id.BatchIdx()))))
	return uuid.UUID(recordid.PartitionMix(topic, id.PartitionIdx()).UUID(pos, ts)).String()
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
