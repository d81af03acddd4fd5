package estest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
)

// uniq returns a name no other test run uses, so stores that share a server cannot collide.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%x", prefix, rand.Uint64())
}

func evs(typ string, n int) []eventsource.EventData {
	out := make([]eventsource.EventData, n)
	for i := range out {
		out[i] = eventsource.EventData{ID: courier.NewID(time.Now()), Type: typ, Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	return out
}

func readStream(t *testing.T, s eventsource.Store, stream string, opts eventsource.ReadOptions) []eventsource.Event {
	t.Helper()
	got, err := eventsource.Collect(s.ReadStream(t.Context(), stream, opts))
	if err != nil {
		t.Fatalf("ReadStream(%q, %+v): %v", stream, opts, err)
	}
	return got
}

func readAll(t *testing.T, s eventsource.Store, from eventsource.Position, opts eventsource.ReadAllOptions) []eventsource.Event {
	t.Helper()
	got, err := eventsource.Collect(s.ReadAll(t.Context(), from, opts))
	if err != nil {
		t.Fatalf("ReadAll(%v, %+v): %v", from, opts, err)
	}
	return got
}

// ReadAllAtLeast reads with ReadAll until it yields at least n events (a store may show
// committed events only once older transactions have ended: pgstore's read horizon), or
// fails the test after 10 s.
func ReadAllAtLeast(t testing.TB, s eventsource.Store, from eventsource.Position, opts eventsource.ReadAllOptions, n int) []eventsource.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := eventsource.Collect(s.ReadAll(t.Context(), from, opts))
		if err != nil {
			t.Fatalf("ReadAll(%v, %+v): %v", from, opts, err)
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		select {
		case <-time.After(10 * time.Millisecond): // the horizon moves when other transactions end
		case <-t.Context().Done():
			return got
		}
	}
}

func versions(es []eventsource.Event) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Version
	}
	return out
}

func testInvalidInput(t *testing.T, b Backend) {
	s := newStore(t, b)
	ctx := t.Context()
	ok := eventsource.EventData{Type: "T"}
	cases := []struct {
		name   string
		stream string
		exp    eventsource.ExpectedVersion
		events []eventsource.EventData
		want   error
		says   string
	}{
		{"empty stream", "", eventsource.Any, []eventsource.EventData{ok}, eventsource.ErrInvalidEvent, "empty stream"},
		{"no events", "s", eventsource.Any, nil, eventsource.ErrInvalidEvent, "no events"},
		{"empty type", "s", eventsource.Any, []eventsource.EventData{ok, {ID: "x"}}, eventsource.ErrInvalidEvent, "empty type"},
		{"negative version", "s", eventsource.Exact(-1), []eventsource.EventData{ok}, eventsource.ErrInvalidEvent, "negative"},
		{"same ID twice", "s", eventsource.Any, []eventsource.EventData{{ID: "a", Type: "T"}, {ID: "a", Type: "T"}}, eventsource.ErrInvalidEvent, "same ID"},
		{"stream not UTF-8", "s\xff", eventsource.Any, []eventsource.EventData{ok}, eventsource.ErrInvalidEvent, "UTF-8"},
		{"type with NUL", "s", eventsource.Any, []eventsource.EventData{{Type: "T\x00"}}, eventsource.ErrInvalidEvent, "NUL"},
		{"ID not UTF-8", "s", eventsource.Any, []eventsource.EventData{{ID: "\xfe", Type: "T"}}, eventsource.ErrInvalidEvent, "UTF-8"},
		{"stream too long", strings.Repeat("s", 1001), eventsource.Any, []eventsource.EventData{ok}, eventsource.ErrInvalidEvent, "1001 bytes"},
		{"too large", "s", eventsource.Any, []eventsource.EventData{{Type: "T", Data: make([]byte, b.MaxEventSize+1)}}, eventsource.ErrEventTooLarge, "bytes"},
	}
	for _, c := range cases {
		_, err := s.Append(ctx, c.stream, c.exp, c.events...)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: Append error = %v, want one wrapping %v that says %q", c.name, err, c.want, c.says)
		}
	}
	if got := readAll(t, s, eventsource.Position{}, eventsource.ReadAllOptions{}); len(got) != 0 {
		t.Errorf("refused appends stored %d events", len(got))
	}
	// The largest allowed event is accepted.
	big := eventsource.EventData{ID: "big", Type: "T"}
	big.Data = make([]byte, b.MaxEventSize-big.Size())
	if _, err := s.Append(ctx, "s", eventsource.NoStream, big); err != nil {
		t.Errorf("Append of an event of exactly MaxEventSize bytes: %v", err)
	}
}

func testRoundTrip(t *testing.T, b Backend) {
	s := newStore(t, b)
	stream := uniq("rt")
	in := []eventsource.EventData{
		{ID: "e-1", Type: "Opened", Data: []byte(`{"owner":"ana"}`), Metadata: map[string]string{"correlation": "c1", "user": "ünïcødé"}},
		{ID: "e-2", Type: "Empty", Data: []byte{}},
		{ID: "e-3", Type: "Nil"},
		{ID: "e-4", Type: "Binary", Data: []byte{0, 0xff, 0xfe, 0x80, '\n', 0}},
	}
	before := time.Now().Add(-time.Minute)
	res, err := s.Append(t.Context(), stream, eventsource.NoStream, in...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if res.Version != 4 || res.Position.IsZero() {
		t.Fatalf("AppendResult = %+v, want version 4 and a position", res)
	}
	got := readStream(t, s, stream, eventsource.ReadOptions{})
	if len(got) != len(in) {
		t.Fatalf("read %d events, want %d", len(got), len(in))
	}
	var prev eventsource.Position
	for i, e := range got {
		w := in[i]
		if e.ID != w.ID || e.Type != w.Type || e.Stream != stream || e.Version != int64(i+1) {
			t.Errorf("event %d = {ID %q Type %q Stream %q Version %d}, want {%q %q %q %d}", i, e.ID, e.Type, e.Stream, e.Version, w.ID, w.Type, stream, i+1)
		}
		if !bytes.Equal(e.Data, w.Data) {
			t.Errorf("event %d data = %x, want %x", i, e.Data, w.Data)
		}
		if len(w.Metadata) > 0 && !maps.Equal(e.Metadata, w.Metadata) || len(w.Metadata) == 0 && len(e.Metadata) != 0 {
			t.Errorf("event %d metadata = %v, want %v", i, e.Metadata, w.Metadata)
		}
		if e.Time.Before(before) || e.Time.After(time.Now().Add(time.Minute)) {
			t.Errorf("event %d time %v is not about now", i, e.Time)
		}
		if e.Position.Compare(prev) <= 0 {
			t.Errorf("event %d position %v is not after %v", i, e.Position, prev)
		}
		prev = e.Position
	}
	if prev != res.Position {
		t.Errorf("last event's position %v, AppendResult says %v", prev, res.Position)
	}
	all := ReadAllAtLeast(t, s, eventsource.Position{}, eventsource.ReadAllOptions{}, 4)
	if len(all) != 4 || all[3].Position != res.Position || all[0].ID != "e-1" {
		t.Errorf("ReadAll = %d events (last at %v), want the 4 appended ending at %v", len(all), all[len(all)-1].Position, res.Position)
	}
}

// testExpectedVersionMatrix appends at every kind of expected version to a stream that does
// not exist and to one at version 2.
func testExpectedVersionMatrix(t *testing.T, b Backend) {
	s := newStore(t, b)
	ctx := t.Context()
	exps := []eventsource.ExpectedVersion{eventsource.Any, eventsource.NoStream, eventsource.StreamExists,
		eventsource.Exact(0), eventsource.Exact(1), eventsource.Exact(2), eventsource.Exact(3)}
	for _, at := range []int64{0, 2} {
		for _, exp := range exps {
			stream := uniq("matrix")
			if at > 0 {
				if _, err := s.Append(ctx, stream, eventsource.NoStream, evs("Seed", int(at))...); err != nil {
					t.Fatalf("seed: %v", err)
				}
			}
			wantOK := exp.Allows(at)
			res, err := s.Append(ctx, stream, exp, evs("Try", 1)...)
			if wantOK {
				if err != nil || res.Version != at+1 {
					t.Errorf("stream at %d, expected %v: got (%+v, %v), want version %d", at, exp, res, err, at+1)
				}
				continue
			}
			var ce *eventsource.ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, eventsource.ErrConcurrencyConflict) {
				t.Errorf("stream at %d, expected %v: error %v, want a *ConflictError", at, exp, err)
				continue
			}
			if ce.Stream != stream || ce.Actual != at || ce.Expected != exp {
				t.Errorf("stream at %d, expected %v: conflict %+v, want stream %q actual %d", at, exp, ce, stream, at)
			}
			if n := len(readStream(t, s, stream, eventsource.ReadOptions{})); int64(n) != at {
				t.Errorf("stream at %d, expected %v: refused append left %d events", at, exp, n)
			}
		}
	}
}

func testIdempotentRetry(t *testing.T, b Backend) {
	s := newStore(t, b)
	ctx := t.Context()
	for _, exp := range []eventsource.ExpectedVersion{eventsource.NoStream, eventsource.Exact(1), eventsource.Any, eventsource.StreamExists} {
		t.Run(exp.String(), func(t *testing.T) {
			stream := uniq("retry")
			seed := 0
			if exp != eventsource.NoStream {
				seed = 1
				if _, err := s.Append(ctx, stream, eventsource.NoStream, evs("Seed", 1)...); err != nil {
					t.Fatal(err)
				}
			}
			batch := evs("Batch", 3)
			first, err := s.Append(ctx, stream, exp, batch...)
			if err != nil {
				t.Fatalf("first append: %v", err)
			}
			for range 2 {
				again, err := s.Append(ctx, stream, exp, batch...)
				if err != nil || again != first {
					t.Fatalf("retry = (%+v, %v), want the first result %+v and no error", again, err, first)
				}
			}
			if got := readStream(t, s, stream, eventsource.ReadOptions{}); len(got) != seed+3 {
				t.Fatalf("stream has %d events after retries, want %d", len(got), seed+3)
			}
			// A later append moves the stream on; the retry still succeeds for versions
			// that name the events' place, and never duplicates.
			if _, err := s.Append(ctx, stream, eventsource.Any, evs("Later", 1)...); err != nil {
				t.Fatal(err)
			}
			again, err := s.Append(ctx, stream, exp, batch...)
			if err != nil || again != first {
				t.Errorf("retry after a later append = (%+v, %v), want %+v", again, err, first)
			}
			// Only part of the batch stored, or in another order: not a retry.
			_, err = s.Append(ctx, stream, exp, batch[0], evs("New", 1)[0])
			if err == nil || !(errors.Is(err, eventsource.ErrConcurrencyConflict) || errors.Is(err, eventsource.ErrDuplicateEventID)) {
				t.Errorf("append of a stored ID with a new one: %v, want a conflict or ErrDuplicateEventID", err)
			}
			if got := readStream(t, s, stream, eventsource.ReadOptions{}); len(got) != seed+4 {
				t.Errorf("stream has %d events, want %d", len(got), seed+4)
			}
		})
	}
	// The same IDs at an expected version that does not fit where they are stored are not a
	// retry: a duplicate ID if the version check passes, else a conflict.
	stream := uniq("retry-wrong")
	batch := evs("B", 1)
	if _, err := s.Append(ctx, stream, eventsource.NoStream, batch...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, stream, eventsource.Exact(1), batch...); !errors.Is(err, eventsource.ErrDuplicateEventID) {
		t.Errorf("stored IDs at the stream's current version: %v, want ErrDuplicateEventID", err)
	}
	if _, err := s.Append(ctx, stream, eventsource.Exact(1), evs("B", 1)...); err != nil {
		t.Fatal(err)
	}
	var ce *eventsource.ConflictError
	if _, err := s.Append(ctx, stream, eventsource.Exact(1), batch...); !errors.As(err, &ce) || ce.Actual != 2 {
		t.Errorf("stored IDs at a wrong expected version: %v, want a conflict with actual 2", err)
	}
}

func testDuplicateEventID(t *testing.T, b Backend) {
	s := newStore(t, b)
	ctx := t.Context()
	a, c := uniq("dup-a"), uniq("dup-b")
	e := evs("T", 1)
	if _, err := s.Append(ctx, a, eventsource.Any, e...); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, c, eventsource.Any, append(evs("T", 1), e...)...)
	if !errors.Is(err, eventsource.ErrDuplicateEventID) || errors.Is(err, eventsource.ErrConcurrencyConflict) {
		t.Errorf("appending another stream's event ID: %v, want ErrDuplicateEventID", err)
	}
	if got := readStream(t, s, c, eventsource.ReadOptions{}); len(got) != 0 {
		t.Errorf("refused append stored %d events", len(got))
	}
}

func testReadStream(t *testing.T, b Backend) {
	s := newStore(t, b)
	stream, other := uniq("read"), uniq("read-other")
	for i := range 10 {
		if _, err := s.Append(t.Context(), stream, eventsource.Exact(int64(i)), evs("T", 1)...); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(t.Context(), other, eventsource.Any, evs("T", 1)...); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		opts eventsource.ReadOptions
		want []int64
	}{
		{eventsource.ReadOptions{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{eventsource.ReadOptions{Limit: 3}, []int64{1, 2, 3}},
		{eventsource.ReadOptions{From: 8}, []int64{8, 9, 10}},
		{eventsource.ReadOptions{From: 4, Limit: 2}, []int64{4, 5}},
		{eventsource.ReadOptions{From: 11}, []int64{}},
		{eventsource.ReadOptions{Direction: eventsource.Backward}, []int64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{eventsource.ReadOptions{Direction: eventsource.Backward, Limit: 1}, []int64{10}},
		{eventsource.ReadOptions{Direction: eventsource.Backward, From: 3}, []int64{3, 2, 1}},
		{eventsource.ReadOptions{Direction: eventsource.Backward, From: 50, Limit: 2}, []int64{10, 9}},
	}
	for _, c := range cases {
		got := versions(readStream(t, s, stream, c.opts))
		if !slices.Equal(got, c.want) {
			t.Errorf("ReadStream %+v = %v, want %v", c.opts, got, c.want)
		}
	}
	if got := readStream(t, s, uniq("none"), eventsource.ReadOptions{}); len(got) != 0 {
		t.Errorf("a stream with no events yielded %d", len(got))
	}
	// Stopping early is fine.
	for e, err := range s.ReadStream(t.Context(), stream, eventsource.ReadOptions{}) {
		if err != nil || e.Version != 1 {
			t.Errorf("first event = %d, %v", e.Version, err)
		}
		break
	}
	for _, bad := range []eventsource.ReadOptions{{Limit: -1}, {Direction: 9}} {
		if _, err := eventsource.Collect(s.ReadStream(t.Context(), stream, bad)); !errors.Is(err, eventsource.ErrInvalidEvent) {
			t.Errorf("ReadStream with %+v: %v, want ErrInvalidEvent", bad, err)
		}
	}
}

func testReadAllFilterLimit(t *testing.T, b Backend) {
	s := newStore(t, b)
	ctx := t.Context()
	p := uniq("f")
	want := map[string][]string{} // by filter
	for i := range 30 {
		stream := fmt.Sprintf("%s-%c-%d", p, 'a'+i%3, i%5)
		typ := []string{"Opened", "Deposited", "Withdrawn"}[i%4%3]
		res, err := s.Append(ctx, stream, eventsource.Any, eventsource.EventData{ID: fmt.Sprintf("%s-%d", p, i), Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		_ = res
		id := fmt.Sprintf("%s-%d", p, i)
		want["all"] = append(want["all"], id)
		if strings.HasPrefix(stream, p+"-a") {
			want["prefix"] = append(want["prefix"], id)
		}
		if typ != "Opened" {
			want["types"] = append(want["types"], id)
			if strings.HasPrefix(stream, p+"-b") {
				want["both"] = append(want["both"], id)
			}
		}
	}
	filters := map[string]eventsource.Filter{
		"all":    {},
		"prefix": {StreamPrefix: p + "-a"},
		"types":  {Types: []string{"Deposited", "Withdrawn"}},
		"both":   {StreamPrefix: p + "-b", Types: []string{"Withdrawn", "Deposited"}},
	}
	ids := func(es []eventsource.Event) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	ReadAllAtLeast(t, s, eventsource.Position{}, eventsource.ReadAllOptions{}, len(want["all"]))
	for name, f := range filters {
		got := ids(readAll(t, s, eventsource.Position{}, eventsource.ReadAllOptions{Filter: f}))
		if !slices.Equal(got, want[name]) {
			t.Errorf("filter %s: ReadAll = %v, want %v", name, got, want[name])
		}
	}
	// Paging with Limit from the last position read gives everything once, in order.
	var pos eventsource.Position
	var paged []string
	for range 100 {
		page := readAll(t, s, pos, eventsource.ReadAllOptions{Limit: 7})
		if len(page) > 7 {
			t.Fatalf("Limit 7 gave %d events", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, ids(page)...)
		pos = page[len(page)-1].Position
	}
	if !slices.Equal(paged, want["all"]) {
		t.Errorf("paged ReadAll = %v, want %v", paged, want["all"])
	}
	if _, err := eventsource.Collect(s.ReadAll(ctx, eventsource.Position{}, eventsource.ReadAllOptions{Limit: -1})); err == nil {
		t.Error("negative limit accepted")
	}
}

func testPositionRoundTrip(t *testing.T, b Backend) {
	s := newStore(t, b)
	stream := uniq("pos")
	var res eventsource.AppendResult
	for i := range 3 {
		var err error
		if res, err = s.Append(t.Context(), stream, eventsource.Exact(int64(i)), evs("T", 1)...); err != nil {
			t.Fatal(err)
		}
	}
	all := ReadAllAtLeast(t, s, eventsource.Position{}, eventsource.ReadAllOptions{}, 3)
	if len(all) != 3 || all[2].Position != res.Position {
		t.Fatalf("ReadAll = %d events, want 3 ending at %v", len(all), res.Position)
	}
	text, err := all[0].Position.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back eventsource.Position
	if err := back.UnmarshalText(text); err != nil || back != all[0].Position {
		t.Fatalf("text round trip of %v = %v, %v", all[0].Position, back, err)
	}
	rest := readAll(t, s, back, eventsource.ReadAllOptions{})
	if len(rest) != 2 || rest[0].ID != all[1].ID {
		t.Errorf("ReadAll from a restored position = %d events, want the last 2", len(rest))
	}
	if got := readAll(t, s, res.Position, eventsource.ReadAllOptions{}); len(got) != 0 {
		t.Errorf("ReadAll from the last position yielded %d events", len(got))
	}
}

func testClosed(t *testing.T, b Backend) {
	s := newStore(t, b)
	if _, err := s.Append(t.Context(), "s", eventsource.Any, evs("T", 1)...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Append(t.Context(), "s", eventsource.Any, evs("T", 1)...); !errors.Is(err, eventsource.ErrClosed) || !errors.Is(err, courier.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := eventsource.Collect(s.ReadStream(t.Context(), "s", eventsource.ReadOptions{})); !errors.Is(err, eventsource.ErrClosed) {
		t.Errorf("ReadStream after Close: %v, want ErrClosed", err)
	}
	if _, err := eventsource.Collect(s.ReadAll(t.Context(), eventsource.Position{}, eventsource.ReadAllOptions{})); !errors.Is(err, eventsource.ErrClosed) {
		t.Errorf("ReadAll after Close: %v, want ErrClosed", err)
	}
}

// testNotifier: a store that is an eventsource.Notifier closes the channel of Changed after
// an append.
func testNotifier(t *testing.T, b Backend) {
	s := newStore(t, b)
	n, ok := s.(eventsource.Notifier)
	if !ok {
		t.Skip("the store is not an eventsource.Notifier: followers poll it")
	}
	ch := n.Changed()
	select {
	case <-ch:
		// A store may wake readers early (a spurious wake-up is allowed); ask again.
		ch = n.Changed()
	default:
	}
	if _, err := s.Append(t.Context(), uniq("notify"), eventsource.Any, evs("T", 1)...); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Changed's channel was not closed within 10 s of an append")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.Changed():
	case <-time.After(10 * time.Second):
		t.Fatal("Changed after Close returned a channel that stays open")
	}
}
