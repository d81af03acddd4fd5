package redisstreams

import (
	"bytes"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

// asMap turns encode's field list into the map go-redis's XREADGROUP returns.
func asMap(t *testing.T, args []any) map[string]any {
	t.Helper()
	m := map[string]any{}
	for i := 0; i < len(args); i += 2 {
		switch v := args[i+1].(type) {
		case string:
			m[args[i].(string)] = v
		case []byte:
			m[args[i].(string)] = string(v)
		case int64:
			m[args[i].(string)] = strconv.FormatInt(v, 10)
		default:
			t.Fatalf("field %v holds a %T", args[i], v)
		}
	}
	return m
}

func TestWireRoundTrip(t *testing.T) {
	ts := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	msgs := []courier.Message{
		{ID: "a", Key: "k", Value: []byte{0, 0xff, 'x'}, Timestamp: ts, Headers: map[string]string{"ct": "bin", "id": "not the ID", "v": "not the value"}},
		{ID: "nil", Value: nil, Timestamp: ts},
		{ID: "empty", Value: []byte{}, Timestamp: ts},
	}
	for _, m := range msgs {
		fields := asMap(t, encode(&m, nil))
		got, err := decodeMap("topic", fields)
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		if got.ID != m.ID || got.Key != m.Key || !got.Timestamp.Equal(m.Timestamp) || got.Topic != "topic" || got.Attempt != 1 ||
			!bytes.Equal(got.Value, m.Value) || (got.Value == nil) != (m.Value == nil) || !maps.Equal(got.Headers, m.Headers) {
			t.Errorf("%s: decoded %+v, sent %+v", m.ID, got, m)
		}
		// The same entry as a Lua script returns it.
		var pairs []any
		for k, v := range fields {
			pairs = append(pairs, k, v)
		}
		got2, err := decodePairs("topic", pairs)
		if err != nil || got2.ID != m.ID || (got2.Value == nil) != (m.Value == nil) || !bytes.Equal(got2.Value, m.Value) {
			t.Errorf("%s: decodePairs = %+v, %v", m.ID, got2, err)
		}
	}
}

func TestWireLayout(t *testing.T) {
	m := courier.Message{ID: "id-1", Key: "user-7", Value: []byte("hi"), Timestamp: time.Unix(1, 5), Headers: map[string]string{"trace": "t1"}}
	got := asMap(t, encode(&m, nil))
	want := map[string]any{"id": "id-1", "key": "user-7", "ts": "1000000005", "h:trace": "t1", "v": "hi"}
	if !maps.Equal(got, want) {
		t.Errorf("entry fields %v, want %v", got, want)
	}
}

func TestDecodeRejectsForeignEntries(t *testing.T) {
	for _, fields := range []map[string]any{
		{"foo": "bar"},
		{"id": "x"},
		{"id": "x", "ts": "yesterday"},
		{"id": "x", "ts": "1", "other": "y"},
	} {
		if _, err := decodeMap("t", fields); err == nil {
			t.Errorf("decodeMap(%v): no error", fields)
		}
	}
	if _, err := decodePairs("t", []any{"id"}); err == nil {
		t.Error("decodePairs of an odd list: no error")
	}
}

func TestTimestampRange(t *testing.T) {
	m := courier.Message{Topic: "t", Timestamp: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	err := checkTimestamp(&m)
	if !errors.Is(err, courier.ErrInvalidMessage) || !strings.Contains(err.Error(), "1678 to 2262") {
		t.Errorf("checkTimestamp(year 3000) = %v", err)
	}
	m.Timestamp = time.Now()
	if err := checkTimestamp(&m); err != nil {
		t.Errorf("checkTimestamp(now) = %v", err)
	}
}
