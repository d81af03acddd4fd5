package stream

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/courier-go/courier"
)

// flakyStore wraps a Store; Apply fails (after the update was stored, like a crash between
// the state commit and the ack) whenever failAfter says so.
type flakyStore struct {
	Store
	failAfter func() bool
	injected  atomic.Int64
	conflicts atomic.Int64
}

func (f *flakyStore) Apply(ctx context.Context, table, key string, u Update) (Outcome, State, error) {
	out, st, err := f.Store.Apply(ctx, table, key, u)
	if out == Conflict {
		f.conflicts.Add(1)
	}
	if err == nil && out == Applied && f.failAfter() {
		f.injected.Add(1)
		return 0, State{}, errInjected
	}
	return out, st, err
}

// lockedRand is a random source safe for the handlers' goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) chance(p float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64() < p
}

// Records rekeyed away from the message key reach one state key from several consumers at
// once: compare-and-set keeps the counts exact.
func TestCountSharedKeysAcrossConsumers(t *testing.T) {
	const n = 1200
	b := newBroker(t)
	in := newProducer(t, b)
	mem, err := NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	rnd := &lockedRand{r: rand.New(rand.NewPCG(3, 4))}
	store := &flakyStore{Store: mem, failAfter: func() bool { return rnd.chance(0.05) }}
	out := newRecorder()

	newPipeline := func() *Pipeline {
		p := New(Config{Name: "shared"})
		byColour := SelectKey(From(p, String), func(r Record[string]) string { return r.Value })
		counts := Aggregate(byColour, Aggregation[string, int64]{Name: "colours", Store: store, Codec: Int64Codec,
			Add: func(_ string, n int64, _ string) int64 {
				runtime.Gosched() // let another consumer's update of the key in between
				return n + 1
			}})
		To(counts, out, "counts", func(n int64) ([]byte, error) { return strconv.AppendInt(nil, n, 10), nil })
		mustValidate(t, p)
		return p
	}
	colours := []string{"red", "green", "blue"}
	ref := map[string]int64{}
	var msgs []courier.Message
	for i := range n {
		c := colours[rand.IntN(len(colours))]
		ref[c]++
		msgs = append(msgs, courier.Message{Topic: "in", Key: "user-" + strconv.Itoa(i), Value: []byte(c)})
	}
	sendAll(t, in, msgs)
	consume(t, b, "g", "in", 4, newPipeline())
	consume(t, b, "g", "in", 4, newPipeline())
	out.waitFor(t, "an output per input", func(ms []courier.Message) bool {
		ids := map[string]bool{}
		for _, m := range ms {
			ids[m.ID] = true
		}
		return len(ids) == n
	})
	for c, w := range ref {
		st, err := mem.Get(context.Background(), "shared/colours", c)
		if err != nil {
			t.Fatal(err)
		}
		if string(st.Value) != strconv.FormatInt(w, 10) {
			t.Errorf("%s counted %s; sent %d", c, st.Value, w)
		}
	}
	if store.conflicts.Load() == 0 {
		t.Error("no compare-and-set conflict: the test did not have consumers race on a key")
	}
	t.Logf("%d compare-and-set conflicts, %d crashes after commit", store.conflicts.Load(), store.injected.Load())
}

func TestAggregateConflictsBounded(t *testing.T) {
	mem, err := NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{Name: "race"})
	var interfere atomic.Int64
	Aggregate(From(p, String), Aggregation[string, int64]{Name: "t", Store: mem, Codec: Int64Codec, MaxConflicts: 3,
		Add: func(key string, n int64, _ string) int64 {
			// Another writer moves the key on between every read and write.
			st, _ := mem.Get(context.Background(), "race/t", key)
			_, _, _ = mem.Apply(context.Background(), "race/t", key, Update{ID: "other-" + strconv.FormatInt(interfere.Add(1), 10), Expect: st.Version, Value: []byte("0")})
			return n + 1
		}})
	err = p.HandleMessage(context.Background(), courier.Message{ID: "m", Topic: "in", Key: "k", Value: []byte("x")})
	if !errors.Is(err, ErrConflicts) {
		t.Fatalf("HandleMessage = %v; want ErrConflicts", err)
	}
	if interfere.Load() != 3 {
		t.Errorf("Add ran %d times; want MaxConflicts = 3", interfere.Load())
	}
}

func TestMemoryStoreForgetsOldIDs(t *testing.T) {
	s, err := NewMemoryStore(2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if out, _, err := s.Apply(ctx, "t", "k", Update{ID: strconv.Itoa(i), Expect: int64(i)}); err != nil || out != Applied {
			t.Fatalf("update %d: %v %v", i, out, err)
		}
	}
	if out, _, _ := s.Apply(ctx, "t", "k", Update{ID: "2", Expect: 3}); out != Duplicate {
		t.Errorf("last ID again: %v; want duplicate", out)
	}
	if out, _, _ := s.Apply(ctx, "t", "k", Update{ID: "0", Expect: 3}); out != Applied {
		t.Errorf("ID older than the 2 remembered: %v; want applied (forgotten)", out)
	}
	if _, err := NewMemoryStore(-1); err == nil {
		t.Error("NewMemoryStore(-1) = nil error")
	}
}
