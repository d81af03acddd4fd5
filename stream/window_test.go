package stream

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
)

func TestWindowsOf(t *testing.T) {
	epoch := time.Unix(0, 0).UTC()
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	cases := []struct {
		w      Windows
		t      time.Duration
		starts []time.Duration
	}{
		{Tumbling(time.Minute), 0, []time.Duration{0}},
		{Tumbling(time.Minute), time.Minute - 1, []time.Duration{0}},
		{Tumbling(time.Minute), time.Minute, []time.Duration{time.Minute}},
		{Tumbling(time.Minute), -1, []time.Duration{-time.Minute}},
		{Tumbling(time.Minute), -time.Minute, []time.Duration{-time.Minute}},
		{Hopping(5*time.Minute, time.Minute), 7*time.Minute + 30*time.Second,
			[]time.Duration{3 * time.Minute, 4 * time.Minute, 5 * time.Minute, 6 * time.Minute, 7 * time.Minute}},
		{Hopping(5*time.Minute, time.Minute), 5 * time.Minute,
			[]time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute}},
		{Hopping(10, 3), 9, []time.Duration{0, 3, 6, 9}},
		{Hopping(10, 3), 10, []time.Duration{3, 6, 9}},
		{Hopping(10, 3), -1, []time.Duration{-9, -6, -3}},
		{Hopping(time.Minute, time.Minute), 90 * time.Second, []time.Duration{time.Minute}},
	}
	for _, c := range cases {
		got := c.w.Of(at(c.t))
		var starts []time.Duration
		for _, w := range got {
			starts = append(starts, w.Start.Sub(epoch))
			if w.End.Sub(w.Start) != c.w.Size {
				t.Errorf("%+v at %v: window %v has the wrong size", c.w, c.t, w)
			}
		}
		if !slices.Equal(starts, c.starts) {
			t.Errorf("%+v at %v: starts %v; want %v", c.w, c.t, starts, c.starts)
		}
	}
	// Against brute force: a window holds t when start <= t < start+Size, starts at multiples of Advance.
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		size := time.Duration(1 + rnd.IntN(50))
		w := Hopping(size, time.Duration(1+rnd.IntN(int(size))))
		ts := time.Duration(rnd.IntN(400) - 200)
		var want []time.Duration
		for s := -400 * w.Advance; s <= 400*w.Advance; s += w.Advance {
			if s <= ts && ts < s+size {
				want = append(want, s)
			}
		}
		var got []time.Duration
		for _, win := range w.Of(at(ts)) {
			got = append(got, win.Start.Sub(epoch))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%+v at %v: starts %v; want %v", w, ts, got, want)
		}
	}
}

type result struct {
	key   string
	start time.Duration
	n     int64
	id    string
}

// windowRig is a pipeline counting records per key in windows, with its results and late
// records collected.
type windowRig struct {
	p     *Pipeline
	stage *WindowStage[string, int64]
	out   *recorder
	late  *recorder
}

var epoch = time.Unix(0, 0).UTC()

func newWindowRig(t testing.TB, store Store, w Windows) *windowRig {
	t.Helper()
	r := &windowRig{p: New(Config{Name: "clicks"}), out: newRecorder(), late: newRecorder()}
	r.stage = WindowCount(From(r.p, String), w, store, "per-page")
	To(r.stage.Results, r.out, "counts", func(v Windowed[int64]) ([]byte, error) {
		return fmt.Appendf(nil, "%d %d", v.Window.Start.Sub(epoch), v.Value), nil
	})
	To(r.stage.Late, r.late, "late", func(s string) ([]byte, error) { return []byte(s), nil })
	mustValidate(t, r.p)
	return r
}

// feed hands the pipeline a record of key at event time at (from the epoch).
func (r *windowRig) feed(t testing.TB, id, key string, at time.Duration) {
	t.Helper()
	err := r.p.HandleMessage(context.Background(), courier.Message{ID: id, Topic: "in", Key: key, Value: []byte(key), Timestamp: epoch.Add(at)})
	if err != nil {
		t.Fatal(err)
	}
}

func (r *windowRig) results(t testing.TB) []result {
	t.Helper()
	var rs []result
	for _, m := range r.out.sent() {
		var start, n int64
		if _, err := fmt.Sscanf(string(m.Value), "%d %d", &start, &n); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, result{key: m.Key, start: time.Duration(start), n: n, id: m.ID})
	}
	slices.SortFunc(rs, func(a, b result) int { return cmp.Or(cmp.Compare(a.start, b.start), strings.Compare(a.key, b.key)) })
	return rs
}

func TestTumblingWindowCloseGraceAndLate(t *testing.T) {
	store, err := NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	r := newWindowRig(t, store, Tumbling(time.Minute).WithGrace(10*time.Second))
	s := time.Second
	r.feed(t, "1", "a", 10*s)
	r.feed(t, "2", "a", 59*s+999*time.Millisecond)
	r.feed(t, "3", "b", 30*s)
	r.feed(t, "4", "a", 65*s) // stream time 65s: [0,60) stays open until 70s
	r.feed(t, "5", "c", 69*s)
	if got := r.results(t); len(got) != 0 {
		t.Fatalf("results before the grace ended: %v", got)
	}
	r.feed(t, "6", "a", 55*s)  // late but within grace: counts
	r.feed(t, "2", "a", 59*s)  // a redelivery of message 2: does not count twice
	r.feed(t, "7", "c", 70*s)  // stream time 70s = end + grace: [0,60) closes
	r.feed(t, "8", "a", 59*s)  // too late: dropped
	r.feed(t, "9", "b", 120*s) // [60,120) still in its grace
	got := r.results(t)
	want := []result{{key: "a", start: 0, n: 3}, {key: "b", start: 0, n: 1}}
	if len(got) != len(want) {
		t.Fatalf("results %v; want %v", got, want)
	}
	for i := range want {
		if got[i].key != want[i].key || got[i].start != want[i].start || got[i].n != want[i].n {
			t.Errorf("result %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if r.stage.Dropped() != 1 {
		t.Errorf("Dropped() = %d; want 1", r.stage.Dropped())
	}
	if late := r.late.sent(); len(late) != 1 || late[0].Key != "a" || late[0].ID != DeriveID("clicks", "8", 0) {
		t.Errorf("late output %+v; want message 8's record, with an ID derived from it", late)
	}
	// Result IDs depend on the window, not on the message that closed it.
	if id := got[0].id; id != DeriveID("clicks", "window\x00clicks/per-page\x00a@0", 0) {
		t.Errorf("result ID %s is not derived from the window", id)
	}

	if err := r.p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = r.results(t)[2:]
	want = []result{{key: "a", start: time.Minute, n: 1}, {key: "c", start: time.Minute, n: 2}, {key: "b", start: 2 * time.Minute, n: 1}}
	if len(got) != len(want) {
		t.Fatalf("flushed %v; want %v", got, want)
	}
	for i := range want {
		if got[i].key != want[i].key || got[i].start != want[i].start || got[i].n != want[i].n {
			t.Errorf("flushed %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if keys, err := store.Keys(context.Background(), "clicks/per-page"); err != nil || len(keys) != 0 {
		t.Errorf("state left after every window closed: %q %v", keys, err)
	}
	r.feed(t, "10", "b", 121*s) // its window was flushed: late
	if r.stage.Dropped() != 2 {
		t.Errorf("Dropped() after a record for a flushed window = %d; want 2", r.stage.Dropped())
	}
}

func TestHoppingMembershipAndPartialLateness(t *testing.T) {
	store, err := NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	m := time.Minute
	r := newWindowRig(t, store, Hopping(3*m, m))
	r.feed(t, "1", "a", 2*m+30*time.Second) // windows starting 0, 1m, 2m
	r.feed(t, "2", "a", 4*m)                // 2m, 3m, 4m; closes [0,3m) and [1m,4m)
	r.feed(t, "3", "a", 2*m)                // 0, 1m, 2m: counts in [2m,5m) only
	if r.stage.Dropped() != 0 {
		t.Errorf("a record late for some of its windows only was dropped")
	}
	r.feed(t, "4", "a", 5*m) // closes [1m,4m) and [2m,5m)
	if err := r.p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := r.results(t)
	want := map[time.Duration]int64{0: 1, m: 1, 2 * m: 3, 3 * m: 2, 4 * m: 2, 5 * m: 1}
	if len(got) != len(want) {
		t.Fatalf("results %v; want windows %v", got, want)
	}
	for _, g := range got {
		if want[g.start] != g.n {
			t.Errorf("window at %v: %d; want %d", g.start, g.n, want[g.start])
		}
	}
}

// A process that stops with windows open leaves them in the store; the next one emits them,
// with the IDs the first would have used.
func TestOpenWindowsSurviveRestart(t *testing.T) {
	store, err := NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	first := newWindowRig(t, store, Tumbling(time.Minute))
	first.feed(t, "1", "a", time.Second)
	first.feed(t, "2", "a", 2*time.Second)

	second := newWindowRig(t, store, Tumbling(time.Minute))
	second.feed(t, "2", "a", 2*time.Second) // redelivered to the new process: not counted again
	second.feed(t, "3", "b", 61*time.Second)
	got := second.results(t)
	if len(got) != 1 || got[0].key != "a" || got[0].n != 2 || got[0].id != DeriveID("clicks", "window\x00clicks/per-page\x00a@0", 0) {
		t.Fatalf("results of the second process %+v; want a's first window, counted 2", got)
	}
	if len(first.results(t)) != 0 {
		t.Fatal("the first process emitted a window it never closed")
	}
}

// A window result that fails to send stays open and is emitted again with the same IDs.
func TestWindowResultSendFailureRetried(t *testing.T) {
	store, err := NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	r := newWindowRig(t, store, Tumbling(time.Minute))
	r.out.fail = func(courier.Message) bool { return true }
	r.feed(t, "1", "a", time.Second)
	err = r.p.HandleMessage(context.Background(), courier.Message{ID: "2", Topic: "in", Key: "b", Value: []byte("b"), Timestamp: epoch.Add(time.Minute)})
	if err == nil {
		t.Fatal("HandleMessage succeeded although the window result could not be sent")
	}
	r.out.fail = nil
	r.feed(t, "2", "b", time.Minute) // the redelivery
	got := r.results(t)
	if len(got) != 1 || got[0].key != "a" || got[0].n != 1 {
		t.Fatalf("results %+v; want a's window once", got)
	}
	if st, _ := store.Get(context.Background(), "clicks/per-page", "a@0"); st.Version != 0 {
		t.Errorf("the emitted window's state is still stored: %+v", st)
	}
}

// Results do not depend on the order records arrive in, as long as no record arrives later
// than the grace period allows: each arrival order here is sorted by event time plus a random
// delay below the grace.
func TestWindowArrivalOrderWithinGrace(t *testing.T) {
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 7))
		size := time.Duration(1+rnd.IntN(20)) * time.Second
		w := Hopping(size, time.Duration(1+rnd.IntN(int(size/time.Second)))*time.Second).WithGrace(time.Duration(rnd.IntN(30)) * time.Second)
		type rec struct {
			id, key string
			at      time.Duration
			arrive  time.Duration
		}
		var recs []rec
		for i := range 1 + rnd.IntN(60) {
			at := time.Duration(rnd.IntN(120_000)) * time.Millisecond
			delay := time.Duration(0)
			if w.Grace > 0 {
				delay = time.Duration(rnd.Int64N(int64(w.Grace)))
			}
			recs = append(recs, rec{id: strconv.Itoa(i), key: string(rune('a' + rnd.IntN(3))), at: at, arrive: at + delay})
		}
		reference := map[result]bool{}
		counts := map[[2]string]int64{}
		for _, r := range recs {
			for _, win := range w.Of(epoch.Add(r.at)) {
				counts[[2]string{r.key, win.Start.Sub(epoch).String()}]++
			}
		}
		for k, n := range counts {
			d, _ := time.ParseDuration(k[1])
			reference[result{key: k[0], start: d, n: n}] = true
		}
		run := func(order []rec) map[result]bool {
			store, err := NewMemoryStore(0)
			if err != nil {
				t.Fatal(err)
			}
			rig := newWindowRig(t, store, w)
			for _, r := range order {
				rig.feed(t, r.id, r.key, r.at)
			}
			if err := rig.p.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if rig.stage.Dropped() != 0 {
				t.Fatalf("seed %d: %d records dropped within the grace", seed, rig.stage.Dropped())
			}
			got := map[result]bool{}
			for _, r := range rig.results(t) {
				r.id = ""
				got[r] = true
			}
			return got
		}
		inOrder := slices.Clone(recs)
		slices.SortStableFunc(inOrder, func(a, b rec) int { return cmp.Compare(a.at, b.at) })
		arrival := slices.Clone(recs)
		slices.SortStableFunc(arrival, func(a, b rec) int { return cmp.Compare(a.arrive, b.arrive) })
		for name, got := range map[string]map[result]bool{"event-time order": run(inOrder), "arrival order": run(arrival)} {
			if len(got) != len(reference) {
				t.Fatalf("seed %d, %s, %+v: %d results; want %d", seed, name, w, len(got), len(reference))
			}
			for r := range reference {
				if !got[r] {
					t.Fatalf("seed %d, %s, %+v: missing %+v", seed, name, w, r)
				}
			}
		}
	}
}

// Windows on a consumer running keys in parallel, with crashes after state commits and lost
// acknowledgements: every window's count is exact, and emitted once per ID.
func TestWindowCountOnMemoryBroker(t *testing.T) {
	const n = 800
	b := newBroker(t)
	in := newProducer(t, b)
	mem, err := NewMemoryStore(0)
	if err != nil {
		t.Fatal(err)
	}
	rnd := &lockedRand{r: rand.New(rand.NewPCG(8, 9))}
	store := &flakyStore{Store: mem, failAfter: func() bool { return rnd.chance(0.1) }}
	rig := newWindowRig(t, store, Tumbling(time.Minute).WithGrace(time.Hour))
	handled := map[string]bool{}
	var mu sync.Mutex
	allHandled := make(chan struct{})
	h := courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		if err := rig.p.HandleMessage(ctx, m); err != nil {
			return err
		}
		if m.Attempt == 1 && rnd.chance(0.1) {
			return errInjected // lost acknowledgement
		}
		mu.Lock()
		defer mu.Unlock()
		if !handled[m.ID] {
			handled[m.ID] = true
			if len(handled) == n {
				close(allHandled)
			}
		}
		return nil
	})
	want := map[result]bool{}
	counts := map[[2]int64]int64{}
	var msgs []courier.Message
	for i := range n {
		key := rand.IntN(5)
		at := time.Duration(rand.IntN(600)) * time.Second
		counts[[2]int64{int64(key), int64(at / time.Minute)}]++
		msgs = append(msgs, courier.Message{Topic: "in", ID: "m" + strconv.Itoa(i), Key: strconv.Itoa(key),
			Value: []byte(strconv.Itoa(key)), Timestamp: epoch.Add(at)})
	}
	for k, c := range counts {
		want[result{key: strconv.FormatInt(k[0], 10), start: time.Duration(k[1]) * time.Minute, n: c}] = true
	}
	sendAll(t, in, msgs)
	consume(t, b, "g", "in", 4, h)
	select {
	case <-allHandled:
	case <-time.After(timeout):
		t.Fatal("timed out waiting for every input to be handled")
	}
	// A record two hours on closes every window.
	sendAll(t, in, []courier.Message{{Topic: "in", ID: "closer", Key: "z", Value: []byte("z"), Timestamp: epoch.Add(2 * time.Hour)}})
	rig.out.waitFor(t, "every window's result", func(ms []courier.Message) bool {
		ids := map[string]bool{}
		for _, m := range ms {
			ids[m.ID] = true
		}
		return len(ids) == len(want)
	})
	got := map[result]bool{}
	for _, r := range rig.results(t) {
		r.id = ""
		got[r] = true
	}
	for r := range want {
		if !got[r] {
			t.Errorf("missing result %+v", r)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct results; want %d", len(got), len(want))
	}
	if rig.stage.Dropped() != 0 || store.injected.Load() == 0 {
		t.Errorf("dropped %d (want 0), injected %d crashes (want some)", rig.stage.Dropped(), store.injected.Load())
	}
}
