package stream

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
)

// Windows says how records are grouped in event time (Record.Time, from Message.Timestamp).
// Windows are aligned to the Unix epoch: a window starts at a multiple of Advance.
type Windows struct {
	// Size is the length of a window. Required.
	Size time.Duration
	// Advance is the distance between the starts of consecutive windows: 0 or Size for
	// tumbling windows (each record in one window), less than Size for hopping windows (each
	// record in Size/Advance windows, rounded up). Must not exceed Size.
	Advance time.Duration
	// Grace is how long after its end, in event time, a window still takes records; 0 means
	// none. A window's result is emitted once the stream time passes its end plus Grace.
	Grace time.Duration
}

// Tumbling returns windows of size that do not overlap.
func Tumbling(size time.Duration) Windows { return Windows{Size: size} }

// Hopping returns windows of size starting every advance.
func Hopping(size, advance time.Duration) Windows { return Windows{Size: size, Advance: advance} }

// WithGrace returns w with a grace period g.
func (w Windows) WithGrace(g time.Duration) Windows { w.Grace = g; return w }

// Validate says what is wrong with w, wrapping courier.ErrInvalidConfig.
func (w Windows) Validate() error {
	var problems []string
	if w.Size <= 0 {
		problems = append(problems, fmt.Sprintf("Size %v is not positive", w.Size))
	}
	if w.Advance < 0 || w.Advance > w.Size && w.Size > 0 {
		problems = append(problems, fmt.Sprintf("Advance %v is not between 0 and Size %v", w.Advance, w.Size))
	}
	if w.Grace < 0 {
		problems = append(problems, fmt.Sprintf("negative Grace %v", w.Grace))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: windows: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

func (w Windows) advance() int64 {
	if w.Advance == 0 {
		return int64(w.Size)
	}
	return int64(w.Advance)
}

// Starts returns the starts (Unix nanoseconds) of the windows holding event time t, oldest
// first.
func (w Windows) starts(t int64) []int64 {
	adv := w.advance()
	last := t / adv * adv
	if t < 0 && last != t {
		last -= adv // floor, not truncation, before the epoch
	}
	var starts []int64
	for s := last; s > t-int64(w.Size); s -= adv {
		starts = append(starts, s)
	}
	slices.Reverse(starts)
	return starts
}

// Of returns the windows that hold event time t, oldest first.
func (w Windows) Of(t time.Time) []Window {
	var ws []Window
	for _, s := range w.starts(t.UnixNano()) {
		ws = append(ws, Window{Start: time.Unix(0, s).UTC(), End: time.Unix(0, s+int64(w.Size)).UTC()})
	}
	return ws
}

// Window is one window of event time: from Start (included) to End (excluded).
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Windowed is the result of a window for a key (the record's key).
type Windowed[S any] struct {
	Window Window `json:"window"`
	Value  S      `json:"value"`
}

// WindowStage is a windowed aggregation in a pipeline: its results, its late records, and how
// many records were dropped for lateness.
type WindowStage[T, S any] struct {
	// Results gets each window's final state once the window closes, with the key it is for
	// and the window's last instant (End minus a nanosecond) as its time. Its output IDs derive
	// from the pipeline, the stage, the key and the window, not from the input that closed the
	// window: an emission repeated (after a failure, by another instance) has the same IDs.
	Results *Stream[Windowed[S]]
	// Late gets the records that fit in no open window (all of their windows had closed):
	// a side output. Records nobody takes from it are only counted.
	Late *Stream[T]

	dropped atomic.Int64
}

// Dropped returns how many records came too late for every window they belong to.
func (w *WindowStage[T, S]) Dropped() int64 { return w.dropped.Load() }

// WindowAggregate folds the records of s by key and window into state kept in a.Store, and
// emits each window's result when the window closes.
//
// Stream time is the latest event time this stage has seen (in this process). A window closes
// when the stream time reaches its end plus w.Grace; a record whose windows have all closed is
// dropped, counted by Dropped and passed to Late. In a hopping window a record late for its
// oldest windows still counts in its newer ones. So within the grace period the results do not
// depend on the order records arrive in (for an Add whose result does not depend on order,
// such as a count or a sum).
//
// Updates are atomic with the record's ID and compare-and-set, as in Aggregate, under the key
// "KEY@START" (START in Unix nanoseconds). A window's state is deleted once its result was
// sent. Open windows are found in the store again after a restart, and emitted once the new
// process's stream time passes them; Pipeline.Flush emits all open windows at once.
func WindowAggregate[T, S any](s *Stream[T], w Windows, a Aggregation[T, S]) *WindowStage[T, S] {
	st := &WindowStage[T, S]{Results: derived[Windowed[S]](s), Late: derived[T](s)}
	bad := false
	if err := w.Validate(); err != nil {
		s.p.fail("WindowAggregate", "%v", err)
		bad = true
	}
	for _, p := range a.validate() {
		s.p.fail("WindowAggregate", "%s", p)
		bad = true
	}
	if bad || !s.p.claimTable("WindowAggregate", a.Name) {
		return st
	}
	n := &windowNode[T, S]{k: newKeyed(s.p, a), w: w, stage: st, node: s.p.newNode(),
		open: map[string]*openWindow{}}
	s.then("WindowAggregate", n.handle)
	s.p.attach("WindowAggregate", func() { s.p.windows = append(s.p.windows, n) })
	return st
}

// WindowCount counts the records of s by key and window; see WindowAggregate.
func WindowCount[T any](s *Stream[T], w Windows, store Store, name string) *WindowStage[T, int64] {
	return WindowAggregate(s, w, Aggregation[T, int64]{
		Name: name, Store: store, Codec: Int64Codec,
		Add: func(_ string, n int64, _ T) int64 { return n + 1 },
	})
}

type windowNode[T, S any] struct {
	k     *keyed[T, S]
	w     Windows
	stage *WindowStage[T, S]
	node  int

	mu         sync.Mutex
	loaded     bool
	seen       bool
	streamTime int64
	open       map[string]*openWindow // by store key
}

type openWindow struct {
	key        string
	start, end int64
	inflight   int  // updates being applied
	closing    bool // result being emitted
}

func windowKey(key string, start int64) string { return key + "@" + strconv.FormatInt(start, 10) }

// parseWindowKey splits a store key made by windowKey.
func parseWindowKey(sk string) (key string, start int64, ok bool) {
	i := strings.LastIndexByte(sk, '@')
	if i < 0 {
		return "", 0, false
	}
	start, err := strconv.ParseInt(sk[i+1:], 10, 64)
	return sk[:i], start, err == nil
}

// load finds the windows left open in the store (by an earlier process), once. Called with mu held.
func (n *windowNode[T, S]) load(ctx context.Context) error {
	if n.loaded {
		return nil
	}
	keys, err := n.k.Store.Keys(ctx, n.k.table)
	if err != nil {
		return fmt.Errorf("state table %q: listing open windows: %w", n.k.table, err)
	}
	for _, sk := range keys {
		key, start, ok := parseWindowKey(sk)
		if !ok {
			return fmt.Errorf("state table %q: key %q is not KEY@START", n.k.table, sk)
		}
		if n.open[sk] == nil {
			n.open[sk] = &openWindow{key: key, start: start, end: start + int64(n.w.Size)}
		}
	}
	n.loaded = true
	return nil
}

func (n *windowNode[T, S]) handle(ctx context.Context, r *run, rec Record[T]) error {
	ts := rec.Time.UnixNano()
	n.mu.Lock()
	if err := n.load(ctx); err != nil {
		n.mu.Unlock()
		return err
	}
	if !n.seen || ts > n.streamTime {
		n.seen, n.streamTime = true, ts
	}
	var mine []*openWindow
	for _, start := range n.w.starts(ts) {
		end := start + int64(n.w.Size)
		if end+int64(n.w.Grace) <= n.streamTime {
			continue // closed
		}
		sk := windowKey(rec.Key, start)
		ow := n.open[sk]
		if ow == nil {
			ow = &openWindow{key: rec.Key, start: start, end: end}
			n.open[sk] = ow
		}
		if ow.closing {
			continue // flushed early
		}
		ow.inflight++
		mine = append(mine, ow)
	}
	n.mu.Unlock()

	if len(mine) == 0 {
		n.stage.dropped.Add(1)
		if err := n.stage.Late.emit(ctx, r, rec); err != nil {
			return err
		}
		return n.flush(ctx, r, false)
	}
	id := r.recordID(n.node)
	var err error
	for _, ow := range mine {
		if _, _, err = n.k.add(ctx, windowKey(ow.key, ow.start), id, rec.Value); err != nil {
			break
		}
	}
	n.mu.Lock()
	for _, ow := range mine {
		ow.inflight--
	}
	n.mu.Unlock()
	if err != nil {
		return err
	}
	return n.flush(ctx, r, false)
}

// flush emits the windows that are due (all open ones if all is set) and no update is being
// applied to, and deletes their state once their results were sent.
func (n *windowNode[T, S]) flush(ctx context.Context, r *run, all bool) error {
	n.mu.Lock()
	if err := n.load(ctx); err != nil {
		n.mu.Unlock()
		return err
	}
	var due []*openWindow
	for _, ow := range n.open {
		if ow.closing || ow.inflight > 0 || !all && ow.end+int64(n.w.Grace) > n.streamTime {
			continue
		}
		ow.closing = true
		due = append(due, ow)
		if all && (!n.seen || ow.end+int64(n.w.Grace) > n.streamTime) {
			n.seen, n.streamTime = true, ow.end+int64(n.w.Grace) // later records for it are late
		}
	}
	n.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	slices.SortFunc(due, func(a, b *openWindow) int {
		return cmp.Or(cmp.Compare(a.start, b.start), strings.Compare(a.key, b.key))
	})
	r.afterSend(func(ctx context.Context, sent bool) error {
		var err error
		for _, ow := range due {
			if sent && err == nil {
				err = n.k.Store.Delete(ctx, n.k.table, windowKey(ow.key, ow.start))
				if err == nil {
					n.mu.Lock()
					delete(n.open, windowKey(ow.key, ow.start))
					n.mu.Unlock()
					continue
				}
				err = fmt.Errorf("state table %q: deleting closed window: %w", n.k.table, err)
			}
			n.mu.Lock()
			ow.closing = false // emitted again by a later flush, with the same IDs
			n.mu.Unlock()
		}
		return err
	})
	for _, ow := range due {
		sk := windowKey(ow.key, ow.start)
		st, err := n.k.Store.Get(ctx, n.k.table, sk)
		if err != nil {
			return fmt.Errorf("state table %q key %q: %w", n.k.table, sk, err)
		}
		if st.Version == 0 {
			continue // emitted and deleted by another process
		}
		agg, err := n.k.decode(st)
		if err != nil {
			return err
		}
		res := Record[Windowed[S]]{Key: ow.key, Time: time.Unix(0, ow.end-1).UTC(), Value: Windowed[S]{
			Window: Window{Start: time.Unix(0, ow.start).UTC(), End: time.Unix(0, ow.end).UTC()},
			Value:  agg,
		}}
		if err := n.stage.Results.emit(ctx, r.sub("window\x00"+n.k.table+"\x00"+sk), res); err != nil {
			return err
		}
	}
	return nil
}
