package kafka

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/IBM/sarama"
	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/recordid"
)

// Reserved record headers carrying courier's own fields.
const (
	// HeaderID carries Message.ID, when it is not a UUID in canonical lowercase form.
	HeaderID = courier.ReservedHeaderPrefix + "id"
	// HeaderUUID carries Message.ID as the 16 bytes of its UUID, when it is one in canonical
	// lowercase form (as the IDs Send fills are).
	HeaderUUID = courier.ReservedHeaderPrefix + "uuid"
	// HeaderNanos carries the nanoseconds of Message.Timestamp below the millisecond, which
	// the record timestamp cannot hold; absent when they are 0.
	HeaderNanos = courier.ReservedHeaderPrefix + "ns"
)

// The header keys as sarama takes them, shared by every record (sarama only reads them).
var headerIDKey, headerUUIDKey, headerNanosKey = []byte(HeaderID), []byte(HeaderUUID), []byte(HeaderNanos)

// record is one message on its way to the broker: the sarama message and everything it
// points to, in one allocation (a producer's cost per message is mostly allocations and the
// collector's work on them), with its headers, when it has any, in a second.
type record struct {
	pm  sarama.ProducerMessage
	key sarama.StringEncoder // pointed to by pm.Key: a pointer in an interface does not allocate
	val sarama.ByteEncoder
	t   ticket // pm.Metadata: where the result goes
}

// reserved holds the values of the reserved headers of a record that has them.
type reserved struct {
	hs [2]sarama.RecordHeader // the reserved headers, when there are no others
	ns [8]byte                // HeaderNanos's value
	id [16]byte               // HeaderUUID's value
}

// newRecord returns the record of a prepared msg. Its ID travels in a header only when sendID
// is set: an ID that Send filled in is not sent, as the consumer derives one (recordUUID).
func newRecord(msg courier.Message, t ticket, sendID bool) *record {
	r := &record{t: t}
	r.pm = sarama.ProducerMessage{Topic: msg.Topic, Timestamp: msg.Timestamp, Metadata: &r.t}
	if msg.Key != "" {
		r.key = sarama.StringEncoder(msg.Key)
		r.pm.Key = &r.key
	}
	if msg.Value != nil { // a nil Value is a null record value, an empty one an empty value
		r.val = msg.Value
		r.pm.Value = &r.val
	}
	ns := recordid.SubMilli(msg.Timestamp)
	if !sendID && ns == 0 && len(msg.Headers) == 0 {
		return r
	}
	res := new(reserved)
	hs := res.hs[:0]
	if len(msg.Headers) > 0 {
		hs = make([]sarama.RecordHeader, 0, len(msg.Headers)+2)
	}
	switch {
	case !sendID:
	case packUUID(msg.ID, &res.id):
		hs = append(hs, sarama.RecordHeader{Key: headerUUIDKey, Value: res.id[:]})
	default:
		hs = append(hs, sarama.RecordHeader{Key: headerIDKey, Value: readOnlyBytes(msg.ID)})
	}
	if ns != 0 {
		hs = append(hs, sarama.RecordHeader{Key: headerNanosKey, Value: strconv.AppendInt(res.ns[:0], ns, 10)})
	}
	for k, v := range msg.Headers {
		hs = append(hs, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	r.pm.Headers = hs
	return r
}

// readOnlyBytes returns the bytes of s without copying them. Sarama only reads header
// values (to size and encode them), so the string's immutable memory is safe to lend; it
// saves an allocation per record.
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// decoder turns the records of one partition claim into messages: it holds what is the same
// for all of them, and makes their strings in one arena. Not safe for concurrent use.
type decoder struct {
	strs      strArena
	topic     string
	partition int32
	mix       recordid.Mix
}

func newDecoder(topic string, partition int32) *decoder {
	return &decoder{topic: topic, partition: partition, mix: recordid.PartitionMix(topic, partition)}
}

// message returns the message of a consumed record. A record without an ID header (sent with
// an empty ID, or by another producer) gets the ID recordUUID derives from its place in the log.
func (d *decoder) message(cm *sarama.ConsumerMessage) courier.Message {
	a := &d.strs
	m := courier.Message{
		Topic:     cm.Topic,
		Key:       a.copy(cm.Key),
		Value:     cm.Value,
		Timestamp: cm.Timestamp,
		Attempt:   1,
		Partition: cm.Partition,
		Offset:    cm.Offset,
	}
	for _, h := range cm.Headers {
		switch string(h.Key) {
		case HeaderID:
			m.ID = a.copy(h.Value)
		case HeaderUUID:
			if len(h.Value) == 16 {
				m.ID = a.uuid((*[16]byte)(h.Value))
			}
		case HeaderNanos:
			if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil && ns > 0 && ns < int64(time.Millisecond) {
				m.Timestamp = m.Timestamp.Add(time.Duration(ns))
			}
		default:
			if m.Headers == nil {
				m.Headers = make(map[string]string, len(cm.Headers))
			}
			m.Headers[a.copy(h.Key)] = a.copy(h.Value)
		}
	}
	if m.ID == "" {
		mx := d.mix
		if cm.Topic != d.topic || cm.Partition != d.partition {
			mx = recordid.PartitionMix(cm.Topic, cm.Partition)
		}
		u := mx.UUID(uint64(cm.Offset), cm.Timestamp)
		m.ID = a.uuid(&u)
	}
	return m
}
