package driver_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

func TestPrepareFillsAndValidates(t *testing.T) {
	m, err := driver.Prepare(courier.Message{Topic: "t", Attempt: 3, Offset: 9})
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == "" || m.Timestamp.IsZero() || m.Attempt != 0 || m.Offset != 0 {
		t.Fatalf("Prepare gave %+v", m)
	}
	if !m.Timestamp.Equal(m.Timestamp.Round(0)) || m.Timestamp != m.Timestamp.Round(0) {
		t.Errorf("Prepare kept the monotonic clock reading")
	}
	kept, _ := driver.Prepare(courier.Message{Topic: "t", ID: "mine", Timestamp: time.Unix(1, 2)})
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
		{"reserved in another case", courier.Message{Topic: "t", Headers: map[string]string{"Courier-ID": "v"}}, "reserved prefix"},
		{"prefix alone", courier.Message{Topic: "t", Headers: map[string]string{"COURIER-": "v"}}, "reserved prefix"},
		{"shorter than the prefix", courier.Message{Topic: "t", Headers: map[string]string{"courier": "v"}}, ""},
		{"bad value", courier.Message{Topic: "t", Headers: map[string]string{"k": "\xff"}}, "not valid UTF-8"},
		{"bad key", courier.Message{Topic: "t", Headers: map[string]string{"\xff": "v"}}, "not valid UTF-8"},
	}
	for _, c := range cases {
		err := driver.Validate(c.msg)
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
		if _, err := driver.Prepare(courier.Message{Topic: "t", Value: []byte("v")}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBatchError(t *testing.T) {
	if driver.NewBatchError([]error{nil, nil}) != nil {
		t.Fatal("NewBatchError of no failures is not nil")
	}
	boom := errors.New("boom")
	err := driver.NewBatchError([]error{nil, boom, nil, courier.ErrMessageTooLarge})
	var be *courier.BatchError
	if !errors.As(err, &be) || len(be.Failed()) != 2 || be.Failed()[0] != 1 || be.Failed()[1] != 3 {
		t.Fatalf("BatchError %v", err)
	}
	if !errors.Is(err, boom) || !errors.Is(err, courier.ErrMessageTooLarge) {
		t.Errorf("BatchError does not unwrap to its causes")
	}
	if !strings.Contains(err.Error(), "2 of 4 messages not sent") {
		t.Errorf("message %q", err)
	}
}
