package courier_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/google/uuid"
)

func TestNewIDIsUUIDv7(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for range 10000 {
		s := courier.NewID(now)
		u, err := uuid.Parse(s)
		if err != nil {
			t.Fatalf("NewID %q does not parse: %v", s, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("NewID %q: version %d variant %v, want 7 RFC4122", s, u.Version(), u.Variant())
		}
		if sec, nsec := u.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != now.UnixMilli() {
			t.Fatalf("NewID %q carries time %v, want %v", s, time.Unix(sec, nsec), now)
		}
		if seen[s] {
			t.Fatalf("NewID repeated %q", s)
		}
		seen[s] = true
	}
	if a, b := courier.NewID(now), courier.NewID(now.Add(time.Millisecond)); a >= b {
		t.Errorf("IDs do not sort by time: %s >= %s", a, b)
	}
}

func TestPrepareFillsAndValidates(t *testing.T) {
	m, err := courier.Prepare(courier.Message{Topic: "t", Attempt: 3, Offset: 9})
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == "" || m.Timestamp.IsZero() || m.Attempt != 0 || m.Offset != 0 {
		t.Fatalf("Prepare gave %+v", m)
	}
	if !m.Timestamp.Equal(m.Timestamp.Round(0)) || m.Timestamp != m.Timestamp.Round(0) {
		t.Errorf("Prepare kept the monotonic clock reading")
	}
	kept, _ := courier.Prepare(courier.Message{Topic: "t", ID: "mine", Timestamp: time.Unix(1, 2)})
	if kept.ID != "mine" || !kept.Timestamp.Equal(time.Unix(1, 2)) {
		t.Errorf("Prepare replaced a given ID or Timestamp: %+v", kept)
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("k", courier.MaxHeaderKeyLen+1)
	cases := []struct {
		name string
		msg  courier.Message
		want string // part of the error; "" means valid
	}{
		{"ok", courier.Message{Topic: "t", Headers: map[string]string{"a": "b", "ü": "✓"}}, ""},
		{"empty topic", courier.Message{}, "empty topic"},
		{"bad topic", courier.Message{Topic: "\xff"}, "topic"},
		{"empty header key", courier.Message{Topic: "t", Headers: map[string]string{"": "v"}}, "empty header key"},
		{"long header key", courier.Message{Topic: "t", Headers: map[string]string{long: "v"}}, "longer than 255"},
		{"reserved", courier.Message{Topic: "t", Headers: map[string]string{"courier-id": "v"}}, "reserved prefix"},
		{"bad value", courier.Message{Topic: "t", Headers: map[string]string{"k": "\xff"}}, "not valid UTF-8"},
		{"bad key", courier.Message{Topic: "t", Headers: map[string]string{"\xff": "v"}}, "not valid UTF-8"},
	}
	for _, c := range cases {
		err := courier.Validate(c.msg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, courier.ErrInvalidMessage)):
			t.Errorf("%s: error %v, want one wrapping ErrInvalidMessage that says %q", c.name, err, c.want)
		}
	}
}

func BenchmarkPrepare(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := courier.Prepare(courier.Message{Topic: "t", Value: []byte("v")}); err != nil {
			b.Fatal(err)
		}
	}
}
