package eventsource_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/courier-go/courier/eventsource"
)

func TestPositionText(t *testing.T) {
	for _, p := range []eventsource.Position{{}, eventsource.NewPosition(0, 1), eventsource.NewPosition(1<<63, 42), eventsource.NewPosition(^uint64(0), ^uint64(0))} {
		b, err := p.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		q, err := eventsource.ParsePosition(string(b))
		if err != nil || q != p {
			t.Errorf("text round trip of %v = %v, %v", p, q, err)
		}
		bin, _ := p.MarshalBinary()
		var r eventsource.Position
		if err := r.UnmarshalBinary(bin); err != nil || r != p {
			t.Errorf("binary round trip of %v = %v, %v", p, r, err)
		}
	}
	for _, bad := range []string{"", "12", "000000000000000g-0000000000000000", "0000000000000000+0000000000000000"} {
		if _, err := eventsource.ParsePosition(bad); err == nil || !strings.Contains(err.Error(), "position") {
			t.Errorf("ParsePosition(%q) = %v, want an error about the position", bad, err)
		}
	}
}

func TestPositionCompare(t *testing.T) {
	ps := []eventsource.Position{{}, eventsource.NewPosition(0, 5), eventsource.NewPosition(1, 0), eventsource.NewPosition(1, 2), eventsource.NewPosition(2, 1)}
	for i, p := range ps {
		for j, q := range ps {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := p.Compare(q); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", p, q, got, want)
			}
		}
	}
}

func TestExpectedVersionAllows(t *testing.T) {
	cases := []struct {
		e    eventsource.ExpectedVersion
		at   int64
		want bool
		str  string
	}{
		{eventsource.Any, 0, true, "any"}, {eventsource.Any, 3, true, "any"},
		{eventsource.NoStream, 0, true, "no stream"}, {eventsource.NoStream, 1, false, "no stream"},
		{eventsource.StreamExists, 0, false, "stream exists"}, {eventsource.StreamExists, 2, true, "stream exists"},
		{eventsource.Exact(0), 0, true, "no stream"}, {eventsource.Exact(2), 2, true, "2"}, {eventsource.Exact(2), 3, false, "2"},
	}
	for _, c := range cases {
		if got := c.e.Allows(c.at); got != c.want || c.e.String() != c.str {
			t.Errorf("%v.Allows(%d) = %v (String %q), want %v (%q)", c.e, c.at, got, c.e.String(), c.want, c.str)
		}
	}
}

func TestConflictError(t *testing.T) {
	var err error = &eventsource.ConflictError{Stream: "acc-1", Expected: eventsource.Exact(3), Actual: 5}
	if !errors.Is(err, eventsource.ErrConcurrencyConflict) {
		t.Error("ConflictError is not ErrConcurrencyConflict")
	}
	for _, want := range []string{`"acc-1"`, "expected version 3", "actual 5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestPrepareAppendFillsIDs(t *testing.T) {
	in := []eventsource.EventData{{Type: "A"}, {ID: "given", Type: "B"}}
	out, err := eventsource.PrepareAppend("s", eventsource.Any, in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].ID == "" || out[1].ID != "given" || in[0].ID != "" {
		t.Errorf("PrepareAppend = %+v (input now %+v), want a filled first ID, the given second, input untouched", out, in)
	}
}
