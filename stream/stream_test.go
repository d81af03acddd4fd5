package stream

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

func TestStatelessPipelineOnMemory(t *testing.T) {
	b := newBroker(t)
	in := newProducer(t, b)
	evens, odds, words := newRecorder(), newRecorder(), newRecorder()

	p := New(Config{Name: "numbers"})
	nums := Map(From(p, String), strconv.Atoi)
	positive := Filter(nums, func(n int) bool { return n > 0 })
	parts := Branch(positive, func(n int) bool { return n%2 == 0 }, func(int) bool { return true })
	To(Map(parts[0], func(n int) (int, error) { return n * 10, nil }), evens, "evens",
		func(n int) ([]byte, error) { return []byte(strconv.Itoa(n)), nil })
	To(parts[1], odds, "odds", JSONEncoder[int]())
	To(FlatMap(positive, func(n int) ([]string, error) { return slices.Repeat([]string{"x"}, n), nil }),
		words, "words", func(s string) ([]byte, error) { return []byte(s), nil })
	mustValidate(t, p)

	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var msgs []courier.Message
	for i, v := range []string{"1", "2", "-3", "4", "0", "5"} {
		msgs = append(msgs, courier.Message{Topic: "in", Key: "k" + v, Value: []byte(v), Timestamp: t0.Add(time.Duration(i) * time.Second)})
	}
	sendAll(t, in, msgs)
	consume(t, b, "g", "in", 3, p)

	wantWords := 1 + 2 + 4 + 5
	words.waitFor(t, "words", func(m []courier.Message) bool { return len(m) == wantWords })
	odds.waitFor(t, "odds", func(m []courier.Message) bool { return len(m) == 2 })
	got := evens.waitFor(t, "evens", func(m []courier.Message) bool { return len(m) == 2 })
	slices.SortFunc(got, func(a, b courier.Message) int { return strings.Compare(string(a.Value), string(b.Value)) })
	if string(got[0].Value) != "20" || string(got[1].Value) != "40" {
		t.Errorf("evens = %q, %q; want 20, 40", got[0].Value, got[1].Value)
	}
	for _, m := range got {
		want := msgs[slices.IndexFunc(msgs, func(in courier.Message) bool { return in.Key == m.Key })]
		if m.Topic != "evens" || !m.Timestamp.Equal(want.Timestamp) {
			t.Errorf("output %+v: want topic evens, key and time of input %+v", m, want)
		}
	}
	all := append(append(words.sent(), odds.sent()...), got...)
	ids := map[string]bool{}
	for _, m := range all {
		if ids[m.ID] {
			t.Errorf("output ID %s used twice", m.ID)
		}
		ids[m.ID] = true
	}
}

// A message whose outputs failed to send comes back and sends the same IDs again.
func TestRedeliveredInputSendsSameIDs(t *testing.T) {
	b := newBroker(t)
	in := newProducer(t, b)
	out := newRecorder()
	var failed atomic.Int32
	out.fail = func(m courier.Message) bool { return string(m.Value) == "b2" && failed.Add(1) <= 2 }

	p := New(Config{Name: "ids"})
	To(FlatMap(From(p, String), func(s string) ([]string, error) { return []string{s + "1", s + "2"}, nil }),
		out, "out", func(s string) ([]byte, error) { return []byte(s), nil })
	first := newRecorder()
	p2 := New(Config{Name: "ids"})
	To(FlatMap(From(p2, String), func(s string) ([]string, error) { return []string{s + "1", s + "2"}, nil }),
		first, "out", func(s string) ([]byte, error) { return []byte(s), nil })

	msgs := []courier.Message{{Topic: "in", ID: "m-a", Value: []byte("a")}, {Topic: "in", ID: "m-b", Value: []byte("b")}}
	sendAll(t, in, msgs)
	consume(t, b, "g", "in", 1, p)
	consume(t, b, "g2", "in", 1, p2) // the same pipeline, never failing
	got := out.waitFor(t, "4 outputs", func(m []courier.Message) bool { return len(m) == 4 })
	want := first.waitFor(t, "4 outputs", func(m []courier.Message) bool { return len(m) == 4 })
	if failed.Load() < 3 {
		t.Fatalf("send failed %d times, want 2 failures then a success", failed.Load())
	}
	byValue := func(ms []courier.Message) map[string]string {
		m := map[string]string{}
		for _, x := range ms {
			m[string(x.Value)] = x.ID
		}
		return m
	}
	g, w := byValue(got), byValue(want)
	for v, id := range w {
		if g[v] != id {
			t.Errorf("output %q: ID %q after redelivery, %q without", v, g[v], id)
		}
	}
	if w["a1"] != DeriveID("ids", "m-a", 0) || w["b2"] != DeriveID("ids", "m-b", 1) {
		t.Errorf("IDs %v are not DeriveID(name, input ID, index)", w)
	}
}

func TestDeriveID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]string{}
	for _, c := range []struct {
		name, input string
		index       int
	}{{"p", "m1", 0}, {"p", "m1", 1}, {"p", "m2", 0}, {"q", "m1", 0}, {"p1", "1", 0}, {"p", "11", 0}, {"", "", 0}} {
		id := DeriveID(c.name, c.input, c.index)
		if !uuid.MatchString(id) {
			t.Errorf("DeriveID%v = %q, not a version 8 UUID", c, id)
		}
		if id != DeriveID(c.name, c.input, c.index) {
			t.Errorf("DeriveID%v is not stable", c)
		}
		what := c.name + "|" + c.input + "|" + strconv.Itoa(c.index)
		if other, dup := seen[id]; dup {
			t.Errorf("DeriveID gives %s for both %s and %s", id, other, what)
		}
		seen[id] = what
	}
}

func TestBuildMistakes(t *testing.T) {
	store, err := NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	enc := JSONEncoder[int]()
	ints := func(p *Pipeline) *Stream[int] { return From(p, JSON[int]()) }
	cases := []struct {
		name  string
		build func(p *Pipeline)
		want  string
	}{
		{"no source", func(*Pipeline) {}, "no source"},
		{"nil decoder", func(p *Pipeline) { From[int](p, nil) }, "From: nil Decoder"},
		{"two sources", func(p *Pipeline) { ints(p); ints(p) }, "has a source already"},
		{"nil filter", func(p *Pipeline) { Filter(ints(p), nil) }, "Filter: nil function"},
		{"nil map", func(p *Pipeline) { Map[int, int](ints(p), nil) }, "Map: nil function"},
		{"nil flatmap", func(p *Pipeline) { FlatMap[int, int](ints(p), nil) }, "FlatMap: nil function"},
		{"nil selectkey", func(p *Pipeline) { SelectKey(ints(p), nil) }, "SelectKey: nil function"},
		{"no branches", func(p *Pipeline) { Branch(ints(p)) }, "Branch: no predicates"},
		{"nil branch", func(p *Pipeline) { Branch(ints(p), func(int) bool { return true }, nil) }, "predicate 1 is nil"},
		{"nil foreach", func(p *Pipeline) { Foreach(ints(p), nil) }, "Foreach: nil function"},
		{"nil producer", func(p *Pipeline) { To(ints(p), nil, "t", enc) }, "To: nil Producer"},
		{"empty topic", func(p *Pipeline) { To(ints(p), rec, "", enc) }, "To: empty topic"},
		{"nil encoder", func(p *Pipeline) { To(ints(p), rec, "t", nil) }, `To: topic "t": nil Encoder`},
		{"aggregate without store", func(p *Pipeline) {
			Aggregate(ints(p), Aggregation[int, int64]{Name: "a", Codec: Int64Codec, Add: func(string, int64, int) int64 { return 0 }})
		}, "Aggregate: nil Store"},
		{"aggregate without anything", func(p *Pipeline) { Aggregate(ints(p), Aggregation[int, int64]{MaxConflicts: -1}) },
			"Aggregate: empty Name; Aggregate: nil Store; Aggregate: Codec without Encode or Decode; Aggregate: nil Add; Aggregate: negative MaxConflicts -1"},
		{"table twice", func(p *Pipeline) { s := ints(p); Count(s, store, "c"); Count(s, store, "c") }, `state table name "c" is used twice`},
		{"bad windows", func(p *Pipeline) {
			WindowCount(ints(p), Windows{Size: time.Minute, Advance: 2 * time.Minute, Grace: -1}, store, "w")
		},
			"Advance 2m0s is not between 0 and Size 1m0s; negative Grace -1ns"},
		{"zero window", func(p *Pipeline) { WindowCount(ints(p), Tumbling(0), store, "w") }, "Size 0s is not positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New(Config{Name: "bad"})
			c.build(p)
			err := p.Validate()
			if !errors.Is(err, ErrInvalidPipeline) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v; want ErrInvalidPipeline saying %q", err, c.want)
			}
			if herr := p.HandleMessage(context.Background(), courier.Message{Topic: "t", Value: []byte("1")}); !errors.Is(herr, ErrInvalidPipeline) {
				t.Errorf("HandleMessage = %v; want ErrInvalidPipeline", herr)
			}
		})
	}
	t.Run("empty name", func(t *testing.T) {
		p := New(Config{})
		ints(p)
		if err := p.Validate(); !errors.Is(err, ErrInvalidPipeline) || !strings.Contains(err.Error(), "empty Name") {
			t.Fatalf("Validate() = %v; want it to name the empty Name", err)
		}
	})
	t.Run("stage after start", func(t *testing.T) {
		p := New(Config{Name: "late"})
		s := ints(p)
		mustValidate(t, p)
		Filter(s, func(int) bool { return true })
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "Filter: added after the pipeline started") {
			t.Fatalf("Validate() = %v; want it to refuse a stage added after the start", err)
		}
	})
}

func TestStageErrorsComeBack(t *testing.T) {
	boom := errors.New("boom")
	p := New(Config{Name: "errs"})
	out := newRecorder()
	To(Map(From(p, String), func(s string) (string, error) {
		if s == "bad" {
			return "", boom
		}
		return s, nil
	}), out, "out", func(s string) ([]byte, error) { return []byte(s), nil })
	mustValidate(t, p)
	ctx := context.Background()
	if err := p.HandleMessage(ctx, courier.Message{ID: "1", Topic: "in", Value: []byte("bad")}); !errors.Is(err, boom) ||
		!strings.Contains(err.Error(), `stream "errs": message "1": map: boom`) {
		t.Errorf("HandleMessage = %v; want the map error with the pipeline and message", err)
	}
	if err := p.HandleMessage(ctx, courier.Message{ID: "2", Topic: "in", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	dec := New(Config{Name: "dec"})
	Foreach(From(dec, JSON[int]()), func(context.Context, Record[int]) error { return nil })
	if err := dec.HandleMessage(ctx, courier.Message{ID: "3", Topic: "in", Value: []byte("{")}); err == nil || !strings.Contains(err.Error(), "decoding") {
		t.Errorf("HandleMessage of bad JSON = %v; want a decoding error", err)
	}
	if got := out.sent(); len(got) != 1 || string(got[0].Value) != "x" {
		t.Errorf("sent %v; want only x", got)
	}
}
