package redisstreams

import (
	"bytes"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// FuzzDecodeEntry decodes entries of arbitrary fields, as XREADGROUP (a map) and as the claim
// script (a list) return them: never a panic, both forms agree, and every entry is either a
// message with an ID and a Timestamp or an error (which the consumer sends down the poison
// path). fields holds name/value pairs separated by NUL bytes.
func FuzzDecodeEntry(f *testing.F) {
	m := courierMessageForFuzz()
	var seed []byte
	args := courierLayout.encode(&m, nil)
	for i := 0; i < len(args); i += 2 {
		seed = append(seed, args[i].(string)...)
		seed = append(seed, 0)
		switch v := args[i+1].(type) {
		case string:
			seed = append(seed, v...)
		case []byte:
			seed = append(seed, v...)
		case int64:
			seed = strconv.AppendInt(seed, v, 10)
		}
		seed = append(seed, 0)
	}
	f.Add("1700000000123-7", seed)
	f.Add("0-1", []byte("payload\x00{}\x00source\x00cli\x00"))
	f.Add("5-5", []byte("id\x00x\x00ts\x00yesterday\x00"))
	f.Add("bad", []byte("v\x00\xff\xfe\x00"))
	f.Fuzz(func(t *testing.T, entryID string, fields []byte) {
		parts := bytes.Split(fields, []byte{0})
		if len(parts)%2 == 1 {
			parts = parts[:len(parts)-1]
		}
		asMap := map[string]any{}
		var pairs []any
		for i := 0; i+1 < len(parts); i += 2 {
			name, value := string(parts[i]), string(parts[i+1])
			if _, dup := asMap[name]; dup {
				continue // a stream entry cannot hold a field twice
			}
			asMap[name] = value
			pairs = append(pairs, name, value)
		}
		m1, err1 := courierLayout.decodeMap("t", entryID, asMap)
		m2, err2 := courierLayout.decodePairs("t", entryID, pairs)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("decodeMap error %v, decodePairs error %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if m1.ID == "" || m1.Timestamp.IsZero() || m1.Topic != "t" || m1.Attempt != 1 {
			t.Fatalf("decoded %+v: no ID, Timestamp, Topic or Attempt", m1)
		}
		if m1.ID != m2.ID || !m1.Timestamp.Equal(m2.Timestamp) || m1.Key != m2.Key ||
			!bytes.Equal(m1.Value, m2.Value) || !maps.Equal(m1.Headers, m2.Headers) {
			t.Fatalf("decodeMap %+v, decodePairs %+v", m1, m2)
		}
	})
}

func courierMessageForFuzz() courier.Message {
	return courier.Message{ID: "id-1", Topic: "t", Key: "k", Value: []byte("value"), Timestamp: time.Unix(1, 2),
		Headers: map[string]string{"trace": "abc"}}
}
