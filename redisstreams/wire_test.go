package redisstreams

import (
	"bytes"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

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
		fields := asMap(t, courierLayout.encode(&m, nil))
		got, err := courierLayout.decodeMap("topic", "1-0", fields)
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
		got2, err := courierLayout.decodePairs("topic", "1-0", pairs)
		if err != nil || got2.ID != m.ID || (got2.Value == nil) != (m.Value == nil) || !bytes.Equal(got2.Value, m.Value) {
			t.Errorf("%s: decodePairs = %+v, %v", m.ID, got2, err)
		}
	}
}

func TestWireLayout(t *testing.T) {
	m := courier.Message{ID: "id-1", Key: "user-7", Value: []byte("hi"), Timestamp: time.Unix(1, 5), Headers: map[string]string{"trace": "t1"}}
	got := asMap(t, courierLayout.encode(&m, nil))
	want := map[string]any{"id": "id-1", "key": "user-7", "ts": "1000000005", "h:trace": "t1", "v": "hi"}
	if !maps.Equal(got, want) {
		t.Errorf("entry fields %v, want %v", got, want)
	}
}

// courierLayout is the default layout.
var courierLayout = Config{}.withDefaults().layout()

// TestDecodeForeignEntries: entries of any layout are messages (they used to be refused and
// left pending forever): the value field is the Value, other fields headers, and the entry ID
// gives the ID and Timestamp.
func TestDecodeForeignEntries(t *testing.T) {
	custom := Config{ValueField: "payload"}.withDefaults().layout()
	cases := []struct {
		name   string
		layout layout
		fields map[string]any
		value  []byte
		hdrs   map[string]string
	}{
		{"one other field", courierLayout, map[string]any{"foo": "bar"}, nil, map[string]string{"foo": "bar"}},
		{"value field", courierLayout, map[string]any{"v": "body", "kind": "x"}, []byte("body"), map[string]string{"kind": "x"}},
		{"configured value field", custom, map[string]any{"payload": "", "v": "header now"}, []byte{}, map[string]string{"v": "header now"}},
		{"id alone is not courier's", courierLayout, map[string]any{"id": "x", "key": "k", "h:a": "b"}, nil, map[string]string{"id": "x", "key": "k", "h:a": "b"}},
		{"courier entry with an extra field", courierLayout, map[string]any{"id": "x", "ts": "1", "other": "y"}, nil, map[string]string{"other": "y"}},
	}
	for _, c := range cases {
		m, err := c.layout.decodeMap("orders", "1700000000123-7", c.fields)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !bytes.Equal(m.Value, c.value) || (m.Value == nil) != (c.value == nil) || !maps.Equal(m.Headers, c.hdrs) {
			t.Errorf("%s: value %q headers %q, want %q %q", c.name, m.Value, m.Headers, c.value, c.hdrs)
		}
		if c.fields["ts"] == nil && !m.Timestamp.Equal(time.UnixMilli(1700000000123)) {
			t.Errorf("%s: Timestamp %v, want the entry ID's millisecond", c.name, m.Timestamp)
		}
		var pairs []any
		for k, v := range c.fields {
			pairs = append(pairs, k, v)
		}
		m2, err := c.layout.decodePairs("orders", "1700000000123-7", pairs)
		if err != nil || m2.ID != m.ID || !maps.Equal(m2.Headers, m.Headers) {
			t.Errorf("%s: decodePairs = %+v, %v; decodeMap gave ID %s", c.name, m2, err, m.ID)
		}
	}
}

func TestEntryIdentity(t *testing.T) {
	id, ts, err := entryIdentity("orders", "1700000000123-7")
	if err != nil {
		t.Fatal(err)
	}
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		t.Fatalf("ID %q is not a UUIDv7: %v", id, err)
	}
	if sec, nsec := u.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != 1700000000123 || !ts.Equal(time.UnixMilli(1700000000123)) {
		t.Errorf("ID %q / Timestamp %v do not carry the entry's millisecond", id, ts)
	}
	seen := map[string]string{id: "1700000000123-7"}
	for _, e := range []string{"1700000000123-8", "1700000000124-7", "1700000000123-0"} {
		other, _, err := entryIdentity("orders", e)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[other]; dup {
			t.Errorf("entries %s and %s share the ID %s", prev, e, other)
		}
		seen[other] = e
	}
	if again, _, _ := entryIdentity("orders", "1700000000123-7"); again != id {
		t.Errorf("the same entry got IDs %s and %s", id, again)
	}
	for _, bad := range []string{"", "17", "a-1", "1-b", "-1"} {
		if _, _, err := entryIdentity("orders", bad); err == nil {
			t.Errorf("entry ID %q: no error", bad)
		}
	}
}

func TestDecodeRejectsMalformedCourierEntries(t *testing.T) {
	if _, err := courierLayout.decodeMap("t", "1-0", map[string]any{"id": "x", "ts": "yesterday"}); err == nil {
		t.Error("a courier entry with ts=yesterday: no error")
	}
	if _, err := courierLayout.decodePairs("t", "1-0", []any{"id"}); err == nil {
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
