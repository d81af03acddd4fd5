package kafka

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/IBM/sarama"
	"github.com/courier-go/courier"
)

// Reserved record headers carrying courier's own fields.
const (
	// HeaderID carries Message.ID.
	HeaderID = courier.ReservedHeaderPrefix + "id"
	// HeaderNanos carries the nanoseconds of Message.Timestamp below the millisecond, which
	// the record timestamp cannot hold; absent when they are 0.
	HeaderNanos = courier.ReservedHeaderPrefix + "ns"
)

// The header keys as sarama takes them, shared by every record (sarama only reads them).
var headerIDKey, headerNanosKey = []byte(HeaderID), []byte(HeaderNanos)

// toRecord returns the sarama message for a prepared msg.
func toRecord(msg courier.Message) *sarama.ProducerMessage {
	pm := &sarama.ProducerMessage{Topic: msg.Topic, Timestamp: msg.Timestamp}
	if msg.Key != "" {
		pm.Key = sarama.StringEncoder(msg.Key)
	}
	if msg.Value != nil { // a nil Value is a null record value, an empty one an empty value
		pm.Value = sarama.ByteEncoder(msg.Value)
	}
	hs := make([]sarama.RecordHeader, 0, len(msg.Headers)+2)
	hs = append(hs, sarama.RecordHeader{Key: headerIDKey, Value: readOnlyBytes(msg.ID)})
	if ns := subMilli(msg.Timestamp); ns != 0 {
		hs = append(hs, sarama.RecordHeader{Key: headerNanosKey, Value: strconv.AppendInt(nil, ns, 10)})
	}
	for k, v := range msg.Headers {
		hs = append(hs, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	pm.Headers = hs
	return pm
}

// readOnlyBytes returns the bytes of s without copying them. Sarama only reads header
// values (to size and encode them), so the string's immutable memory is safe to lend; it
// saves an allocation per record.
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// subMilli returns the nanoseconds of t beyond its whole milliseconds since the epoch.
func subMilli(t time.Time) int64 {
	return t.Sub(time.UnixMilli(t.UnixMilli())).Nanoseconds()
}

// fromRecord returns the message of a consumed record. A record from a producer other than
// courier has no ID header; its ID is then made of its topic, partition and offset, which
// name it uniquely and the same way on every delivery.
func fromRecord(cm *sarama.ConsumerMessage) courier.Message {
	m := courier.Message{
		Topic:     cm.Topic,
		Key:       string(cm.Key),
		Value:     cm.Value,
		Timestamp: cm.Timestamp,
		Attempt:   1,
		Partition: cm.Partition,
		Offset:    cm.Offset,
	}
	for _, h := range cm.Headers {
		switch k := string(h.Key); k {
		case HeaderID:
			m.ID = string(h.Value)
		case HeaderNanos:
			if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil && ns > 0 && ns < int64(time.Millisecond) {
				m.Timestamp = m.Timestamp.Add(time.Duration(ns))
			}
		default:
			if m.Headers == nil {
				m.Headers = make(map[string]string, len(cm.Headers))
			}
			m.Headers[k] = string(h.Value)
		}
	}
	if m.ID == "" {
		m.ID = cm.Topic + "/" + strconv.Itoa(int(cm.Partition)) + "/" + strconv.FormatInt(cm.Offset, 10)
	}
	return m
}
