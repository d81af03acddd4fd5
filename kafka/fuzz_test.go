package kafka

import (
	"bytes"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// FuzzDecodeRecord decodes records with arbitrary keys, values and headers, as another
// producer may write them (courier's reserved header names included): never a panic; every
// message has an ID; a header other than courier's arrives under its own name; a nanosecond
// header moves the timestamp by less than a millisecond, or not at all.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte("key"), []byte("value"), []byte("h\x00v\x00"+HeaderNanos+"\x00123\x00"), int64(42), int64(1767225600123))
	f.Add([]byte(nil), []byte(nil), []byte(HeaderUUID+"\x00short\x00"+HeaderID+"\x00\xff\xfe\x00"), int64(0), int64(0))
	f.Add([]byte{0xff}, []byte{}, []byte(HeaderNanos+"\x00-5\x00\x00\x00"), int64(-1), int64(-1))
	f.Fuzz(func(t *testing.T, key, value, headers []byte, offset, ms int64) {
		cm := &sarama.ConsumerMessage{Topic: "t", Partition: 1, Offset: offset, Key: key, Value: value,
			Timestamp: time.UnixMilli(ms)}
		parts := bytes.Split(headers, []byte{0})
		for i := 0; i+1 < len(parts); i += 2 {
			cm.Headers = append(cm.Headers, &sarama.RecordHeader{Key: parts[i], Value: parts[i+1]})
		}
		m := newDecoder("t", 1).message(cm)
		if m.ID == "" || m.Attempt != 1 || m.Key != string(key) || !bytes.Equal(m.Value, value) {
			t.Fatalf("decoded %+v", m)
		}
		if d := m.Timestamp.Sub(cm.Timestamp); d < 0 || d >= time.Millisecond {
			t.Fatalf("timestamp moved by %v", d)
		}
		for _, h := range cm.Headers {
			switch string(h.Key) {
			case HeaderID, HeaderUUID, HeaderNanos:
			default:
				if _, ok := m.Headers[string(h.Key)]; !ok {
					t.Fatalf("header %q lost", h.Key)
				}
			}
		}
	})
}
