package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/courier-go/courier"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var fast = courier.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}

// recorder is a Settler that records every outcome.
type recorder struct {
	mu       sync.Mutex
	acked    map[string]int
	released map[string]int
	retried  map[string]int
	retryErr error
}

func newRecorder() *recorder {
	return &recorder{acked: map[string]int{}, released: map[string]int{}, retried: map[string]int{}}
}

func (r *recorder) Ack(_ context.Context, d Delivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked[d.Msg.ID]++
	return nil
}

func (r *recorder) Retry(_ context.Context, d Delivery) (Delivery, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retried[d.Msg.ID]++
	if r.retryErr != nil {
		return d, r.retryErr
	}
	d.Msg.Attempt++
	return d, nil
}

func (r *recorder) Release(d Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.released[d.Msg.ID]++
}

func (r *recorder) counts() (acked, released int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.acked {
		acked += n
	}
	for _, n := range r.released {
		released += n
	}
	return acked, released
}

// settledOnce fails unless every id was settled exactly once, by ack or release.
func (r *recorder) settledOnce(t *testing.T, ids []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if n := r.acked[id] + r.released[id]; n != 1 {
			t.Errorf("message %s settled %d times (acked %d, released %d), want exactly once",
				id, n, r.acked[id], r.released[id])
		}
	}
}

func delivery(id, key string) Delivery {
	return Delivery{Msg: courier.Message{ID: id, Topic: "t", Key: key, Attempt: 1}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition, not standing in for one
	}
}

func submit(t *testing.T, e *Engine, d Delivery) {
	t.Helper()
	if err := e.Submit(context.Background(), d); err != nil {
		t.Fatalf("Submit %s: %v", d.Msg.ID, err)
	}
}

func TestEveryMessageAckedOnce(t *testing.T) {
	rec := newRecorder()
	var handled atomic.Int64
	e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
		handled.Add(1)
		return nil
	}), rec, EngineConfig{Concurrency: 4, Logger: quiet})
	var ids []string
	for i := range 1000 {
		id := fmt.Sprint(i)
		ids = append(ids, id)
		key := ""
		if i%2 == 0 {
			key = fmt.Sprint("k", i%7)
		}
		submit(t, e, delivery(id, key))
	}
	waitFor(t, "all acked", func() bool { a, _ := rec.counts(); return a == 1000 })
	e.Close()
	rec.settledOnce(t, ids)
	if got := handled.Load(); got != 1000 {
		t.Fatalf("handler ran %d times, want 1000", got)
	}
}

func TestPerKeyOrderWithConcurrency(t *testing.T) {
	const keys, perKey = 16, 200
	rec := newRecorder()
	var mu sync.Mutex
	last := map[string]int{}
	inFlight := map[string]bool{}
	var failures atomic.Int64
	e := NewEngine(context.Background(), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		mu.Lock()
		if inFlight[m.Key] {
			failures.Add(1)
		}
		inFlight[m.Key] = true
		var seq int
		fmt.Sscan(m.ID[len(m.Key)+1:], &seq)
		if seq != last[m.Key]+1 {
			failures.Add(1)
		}
		mu.Unlock()
		if seq%5 == 0 && m.Attempt == 1 {
			mu.Lock()
			inFlight[m.Key] = false
			mu.Unlock()
			return errors.New("fail once") // retried in place: later messages of its key wait
		}
		mu.Lock()
		last[m.Key] = seq
		inFlight[m.Key] = false
		mu.Unlock()
		return nil
	}), rec, EngineConfig{Concurrency: 8, Backoff: fast, Logger: quiet})
	for i := 1; i <= perKey; i++ {
		for k := range keys {
			key := fmt.Sprint("key", k)
			submit(t, e, delivery(fmt.Sprintf("%s/%d", key, i), key))
		}
	}
	waitFor(t, "all acked", func() bool { a, _ := rec.counts(); return a == keys*perKey })
	e.Close()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d ordering violations (out of order or same key concurrently)", n)
	}
}

func TestDifferentKeysRunInParallel(t *testing.T) {
	rec := newRecorder()
	started := make(chan string, 2)
	release := make(chan struct{})
	e := NewEngine(context.Background(), courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		started <- m.Key
		<-release
		return nil
	}), rec, EngineConfig{Concurrency: 2, Logger: quiet})
	defer e.Close()
	submit(t, e, delivery("1", "a"))
	submit(t, e, delivery("2", "b"))
	for range 2 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("two different keys did not run at the same time with Concurrency 2")
		}
	}
	close(release)
	waitFor(t, "acks", func() bool { a, _ := rec.counts(); return a == 2 })
}

// TestRevokedReleasesWhatWaitsAndLetsRunningFinish: once a partition is revoked, its
// deliveries still queued are released without running, while the one running finishes and
// is acked; deliveries of other partitions go on.
func TestRevokedReleasesWhatWaitsAndLetsRunningFinish(t *testing.T) {
	rec := newRecorder()
	running := make(chan struct{})
	finish := make(chan struct{})
	var ran sync.Map
	e := NewEngine(context.Background(), courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		ran.Store(m.ID, true)
		if m.ID == "p1-a" {
			close(running)
			<-finish
			return ctx.Err() // nil: revoking does not cancel a running handler
		}
		return nil
	}), rec, EngineConfig{Concurrency: 1, Logger: quiet})
	defer e.Close()
	var revoked atomic.Bool
	for _, id := range []string{"p1-a", "p1-b", "p1-c"} {
		d := delivery(id, "")
		d.Revoked = &revoked
		submit(t, e, d)
	}
	submit(t, e, delivery("p2-a", ""))
	<-running
	revoked.Store(true)
	close(finish)
	waitFor(t, "every delivery settled", func() bool { a, r := rec.counts(); return a+r == 4 })
	rec.settledOnce(t, []string{"p1-a", "p1-b", "p1-c", "p2-a"})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.acked["p1-a"] != 1 || rec.acked["p2-a"] != 1 || rec.released["p1-b"] != 1 || rec.released["p1-c"] != 1 {
		t.Errorf("acked %v released %v; want p1-a and p2-a acked, p1-b and p1-c released", rec.acked, rec.released)
	}
	for _, id := range []string{"p1-b", "p1-c"} {
		if _, ok := ran.Load(id); ok {
			t.Errorf("%s ran after its partition was revoked", id)
		}
	}
}

func TestRetryKeepsPlaceAndCountsAttempts(t *testing.T) {
	rec := newRecorder()
	var mu sync.Mutex
	var seen []string
	e := NewEngine(context.Background(), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s@%d", m.ID, m.Attempt))
		mu.Unlock()
		if m.ID == "first" && m.Attempt < 3 {
			return errors.New("not yet")
		}
		if m.ID == "second" && m.Attempt == 1 {
			panic("boom") // a panic is an error: retried, process survives
		}
		return nil
	}), rec, EngineConfig{Concurrency: 4, Backoff: fast, Logger: quiet})
	submit(t, e, delivery("first", "k"))
	submit(t, e, delivery("second", "k"))
	waitFor(t, "both acked", func() bool { a, _ := rec.counts(); return a == 2 })
	e.Close()
	want := []string{"first@1", "first@2", "first@3", "second@1", "second@2"}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("handled %v, want %v", seen, want)
	}
	if rec.retried["first"] != 2 || rec.retried["second"] != 1 {
		t.Fatalf("Retry calls %v, want first:2 second:1", rec.retried)
	}
}

func TestCloseDrainsThenCancelsAndReleasesTheRest(t *testing.T) {
	rec := newRecorder()
	inHandler := make(chan struct{})
	var sawCancel atomic.Bool
	e := NewEngine(context.Background(), courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		if m.ID == "slow" {
			close(inHandler)
			<-ctx.Done() // ignores the drain until cancelled
			sawCancel.Store(true)
			return ctx.Err()
		}
		return errors.New("always fails") // waits in retry when Close comes
	}), rec, EngineConfig{Concurrency: 1, DrainTimeout: 20 * time.Millisecond,
		Backoff: courier.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}, Logger: quiet})
	submit(t, e, delivery("retrying", "r"))
	waitFor(t, "retry scheduled", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.retries) == 1
	})
	submit(t, e, delivery("slow", "k"))
	<-inHandler
	submit(t, e, delivery("queued-same-key", "k"))
	submit(t, e, delivery("queued-behind-retry", "r"))
	submit(t, e, delivery("queued-no-key", ""))
	start := time.Now()
	e.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if !sawCancel.Load() {
		t.Fatal("the running handler's context was not cancelled after the drain timeout")
	}
	ids := []string{"retrying", "slow", "queued-same-key", "queued-behind-retry", "queued-no-key"}
	rec.settledOnce(t, ids)
	if a, r := rec.counts(); a != 0 || r != len(ids) {
		t.Fatalf("acked %d released %d, want 0 and %d", a, r, len(ids))
	}
	if err := e.Submit(context.Background(), delivery("late", "")); !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("Submit after Close = %v, want ErrClosed", err)
	}
}

func TestCloseLetsRunningHandlerFinish(t *testing.T) {
	rec := newRecorder()
	inHandler := make(chan struct{})
	finish := make(chan struct{})
	e := NewEngine(context.Background(), courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		close(inHandler)
		<-finish
		return ctx.Err() // nil: not cancelled within the drain time
	}), rec, EngineConfig{DrainTimeout: time.Minute, Logger: quiet})
	submit(t, e, delivery("1", ""))
	<-inHandler
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	close(finish)
	<-closed
	if a, _ := rec.counts(); a != 1 {
		t.Fatalf("acked %d, want the drained message acked", a)
	}
}

func TestSubmitBlocksWhenFull(t *testing.T) {
	rec := newRecorder()
	block := make(chan struct{})
	e := NewEngine(context.Background(), courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		<-block
		return nil
	}), rec, EngineConfig{Concurrency: 1, QueueSize: 2, Logger: quiet})
	submit(t, e, delivery("1", ""))
	submit(t, e, delivery("2", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.Submit(ctx, delivery("3", "")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit over QueueSize = %v, want it to block until ctx ends", err)
	}
	close(block)
	submit(t, e, delivery("3", "")) // room again once handled
	waitFor(t, "acks", func() bool { a, _ := rec.counts(); return a == 3 })
	e.Close()
}

func TestRetryErrorDropsAndMovesOn(t *testing.T) {
	rec := newRecorder()
	rec.retryErr = errors.New("claimed by another consumer")
	e := NewEngine(context.Background(), courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		if m.ID == "lost" {
			return errors.New("fail")
		}
		return nil
	}), rec, EngineConfig{Backoff: fast, Logger: quiet})
	submit(t, e, delivery("lost", "k"))
	submit(t, e, delivery("next", "k"))
	waitFor(t, "next acked", func() bool { a, _ := rec.counts(); return a == 1 })
	e.Close()
	if rec.acked["next"] != 1 || rec.acked["lost"] != 0 || rec.released["lost"] != 0 {
		t.Fatalf("acked %v released %v: want only next acked, lost left to the broker", rec.acked, rec.released)
	}
}

func TestEndedDeliveryContextReleases(t *testing.T) {
	rec := newRecorder()
	e := NewEngine(context.Background(), courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		return nil
	}), rec, EngineConfig{Logger: quiet})
	defer e.Close()
	pctx, cancel := context.WithCancel(e.Context())
	cancel() // the partition was revoked
	d := delivery("revoked", "k")
	d.Ctx = pctx
	submit(t, e, d)
	submit(t, e, delivery("other", "k"))
	waitFor(t, "settled", func() bool { a, r := rec.counts(); return a == 1 && r == 1 })
	if rec.released["revoked"] != 1 || rec.acked["other"] != 1 {
		t.Fatalf("acked %v released %v", rec.acked, rec.released)
	}
}

func TestHandlerContextKeepsParentValues(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	cancel() // the parent's end must not cancel handlers: Close's drain decides that
	got := make(chan error, 1)
	e := NewEngine(parent, courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		if ctx.Value(key{}) != "v" {
			got <- errors.New("value lost")
		} else {
			got <- ctx.Err()
		}
		return nil
	}), newRecorder(), EngineConfig{Logger: quiet})
	defer e.Close()
	submit(t, e, delivery("1", ""))
	if err := <-got; err != nil {
		t.Fatalf("handler context: %v", err)
	}
}

type nopSettler struct{}

func (nopSettler) Ack(context.Context, Delivery) error { return nil }
func (nopSettler) Retry(_ context.Context, d Delivery) (Delivery, error) {
	d.Msg.Attempt++
	return d, nil
}
func (nopSettler) Release(Delivery) {}

func benchmarkEngine(b *testing.B, keyed bool, concurrency int) {
	keys := make([]string, 64)
	for i := range keys {
		if keyed {
			keys[i] = fmt.Sprint("key-", i)
		}
	}
	var done sync.WaitGroup
	done.Add(b.N)
	e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
		done.Done()
		return nil
	}), nopSettler{}, EngineConfig{Concurrency: concurrency, Logger: quiet})
	d := delivery("id", "")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d.Msg.Key = keys[i%len(keys)]
		if err := e.Submit(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	done.Wait()
	b.StopTimer()
	e.Close()
}

func BenchmarkEngine(b *testing.B) {
	for _, c := range []int{1, 8} {
		b.Run(fmt.Sprintf("keyed/concurrency=%d", c), func(b *testing.B) { benchmarkEngine(b, true, c) })
		b.Run(fmt.Sprintf("unkeyed/concurrency=%d", c), func(b *testing.B) { benchmarkEngine(b, false, c) })
	}
}

// blockingRetry is a Settler whose Retry waits for the engine's context, like an adapter
// doing I/O while the consumer closes.
type blockingRetry struct {
	*recorder
	inRetry chan struct{}
}

func (b blockingRetry) Retry(ctx context.Context, d Delivery) (Delivery, error) {
	close(b.inRetry)
	<-ctx.Done()
	return d, ctx.Err()
}

func TestRetryCutShortByCloseReleases(t *testing.T) {
	s := blockingRetry{newRecorder(), make(chan struct{})}
	e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error {
		return errors.New("fail")
	}), s, EngineConfig{Backoff: fast, Logger: quiet})
	submit(t, e, delivery("m", "k"))
	submit(t, e, delivery("behind", "k"))
	<-s.inRetry
	e.Close()
	s.settledOnce(t, []string{"m", "behind"})
	if a, r := s.counts(); a != 0 || r != 2 {
		t.Fatalf("acked %d released %d, want both released", a, r)
	}
}

func TestSubmitAll(t *testing.T) {
	rec := newRecorder()
	block := make(chan struct{})
	e := NewEngine(context.Background(), courier.HandlerFunc(func(ctx context.Context, m courier.Message) error {
		<-block
		return nil
	}), rec, EngineConfig{Concurrency: 1, QueueSize: 4, Logger: quiet})
	var batch []Delivery
	var ids []string
	for i := range 6 {
		id := fmt.Sprint(i)
		ids = append(ids, id)
		batch = append(batch, delivery(id, fmt.Sprint("k", i%2)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	n, err := e.SubmitAll(ctx, batch)
	if n != 4 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SubmitAll over QueueSize = %d, %v; want 4 accepted and the ctx error", n, err)
	}
	close(block)
	if n2, err := e.SubmitAll(context.Background(), batch[n:]); n2 != 2 || err != nil {
		t.Fatalf("SubmitAll of the rest = %d, %v", n2, err)
	}
	waitFor(t, "all acked", func() bool { a, _ := rec.counts(); return a == 6 })
	e.Close()
	rec.settledOnce(t, ids)
	if n, err := e.SubmitAll(context.Background(), batch); n != 0 || !errors.Is(err, courier.ErrClosed) {
		t.Fatalf("SubmitAll after Close = %d, %v", n, err)
	}
}

// TestQueueKeepsOrderAcrossWraps pushes, pops and takes in random amounts, so that the ring
// wraps and grows in every position, and checks the FIFO order against a plain slice.
func TestQueueKeepsOrderAcrossWraps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var q queue
	var want []string
	var taken []Delivery
	next := 0
	for step := range 20000 {
		switch op := r.IntN(3); {
		case op == 0 || q.len() == 0:
			for range 1 + r.IntN(20) {
				id := strconv.Itoa(next)
				next++
				q.push(delivery(id, ""))
				want = append(want, id)
			}
		case op == 1:
			if got := q.pop().Msg.ID; got != want[0] {
				t.Fatalf("step %d: popped %s, want %s", step, got, want[0])
			}
			want = want[1:]
		default:
			n := 1 + r.IntN(q.len())
			taken = q.take(n, taken[:0])
			for i, d := range taken {
				if d.Msg.ID != want[i] {
					t.Fatalf("step %d: took %s at %d, want %s", step, d.Msg.ID, i, want[i])
				}
			}
			want = want[n:]
		}
		if q.len() != len(want) {
			t.Fatalf("step %d: queue holds %d, want %d", step, q.len(), len(want))
		}
	}
	for i := range q.q { // what left the queue is not kept alive by it
		if pos := (i - q.head + len(q.q)) & (len(q.q) - 1); pos >= q.n && q.q[i].Msg.ID != "" {
			t.Fatalf("slot %d, outside the live part, still holds %s", i, q.q[i].Msg.ID)
		}
	}
}

// batchRecorder is a recorder that acknowledges in batches.
type batchRecorder struct {
	*recorder
	batches atomic.Int64
	single  atomic.Int64
}

func (b *batchRecorder) Ack(ctx context.Context, d Delivery) error {
	b.single.Add(1)
	return b.recorder.Ack(ctx, d)
}

func (b *batchRecorder) AckAll(ctx context.Context, ds []*Delivery) error {
	b.batches.Add(1)
	for _, d := range ds {
		if err := b.recorder.Ack(ctx, *d); err != nil {
			return err
		}
	}
	return nil
}

// TestBatchAckerAcksEveryHandledOnceInBatches: with a BatchAcker every handled delivery is
// acknowledged once, through AckAll only, in fewer calls than deliveries; a failed one is
// retried and acknowledged once it succeeds; per-key order holds.
func TestBatchAckerAcksEveryHandledOnceInBatches(t *testing.T) {
	rec := &batchRecorder{recorder: newRecorder()}
	var mu sync.Mutex
	order := map[string][]string{}
	failed := false
	e := NewEngine(context.Background(), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if m.ID == "k1-5" && !failed {
			failed = true
			return errors.New("once")
		}
		order[m.Key] = append(order[m.Key], m.ID)
		return nil
	}), rec, EngineConfig{Concurrency: 2, Backoff: fast, Logger: quiet})
	defer e.Close()
	var ids, keys []string
	for k := range 50 {
		keys = append(keys, fmt.Sprint("k", k))
	}
	var ds []Delivery
	for i := range 8 {
		for _, k := range keys {
			id := fmt.Sprintf("%s-%d", k, i)
			ids = append(ids, id)
			ds = append(ds, delivery(id, k))
		}
	}
	if n, err := e.SubmitAll(context.Background(), ds); err != nil || n != len(ds) {
		t.Fatalf("SubmitAll: %d, %v", n, err)
	}
	waitFor(t, "every delivery acked", func() bool { a, _ := rec.counts(); return a == len(ids) })
	rec.settledOnce(t, ids)
	if n := rec.single.Load(); n != 0 {
		t.Errorf("Ack called %d times on a BatchAcker", n)
	}
	if b := rec.batches.Load(); b >= int64(len(ids)) {
		t.Errorf("%d AckAll calls for %d deliveries: not batched", b, len(ids))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range keys {
		for i, id := range order[k] {
			if want := fmt.Sprintf("%s-%d", k, i); id != want {
				t.Fatalf("key %s: handled %s at %d, want %s", k, id, i, want)
			}
		}
	}
}

// freshRetry is a recorder whose Retry builds a new Delivery, as an adapter that re-reads a
// message from its broker does.
type freshRetry struct{ *recorder }

func (f freshRetry) Retry(ctx context.Context, d Delivery) (Delivery, error) {
	got, err := f.recorder.Retry(ctx, d)
	return Delivery{Msg: got.Msg, Ref: got.Ref, Tag: got.Tag}, err
}

// TestRetryWithNewDeliveryKeepsKeyOrder: a retried message that comes back from Retry as a
// new Delivery still holds its key: the messages behind it run after it, in order.
func TestRetryWithNewDeliveryKeepsKeyOrder(t *testing.T) {
	rec := freshRetry{newRecorder()}
	var mu sync.Mutex
	var seen []string
	e := NewEngine(context.Background(), courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if m.ID == "1" && m.Attempt == 1 {
			return errors.New("first attempt fails")
		}
		seen = append(seen, m.ID)
		return nil
	}), rec, EngineConfig{Concurrency: 4, Backoff: fast, Logger: quiet})
	defer e.Close()
	for _, id := range []string{"1", "2", "3"} {
		submit(t, e, delivery(id, "k"))
	}
	waitFor(t, "three acks", func() bool { a, _ := rec.counts(); return a == 3 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != "[1 2 3]" {
		t.Errorf("handled %v, want [1 2 3]", seen)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.keys) != 0 {
		t.Errorf("%d keys still held after every message was settled", len(e.keys))
	}
}

// TestTakeLimitFollowsHandlerTime: fast handlers are taken by the dozen, slow ones one at a
// time, so that a batch never holds back much handler time.
func TestTakeLimitFollowsHandlerTime(t *testing.T) {
	for _, c := range []struct {
		each time.Duration
		want int
	}{
		{0, maxTake}, {100 * time.Nanosecond, maxTake}, {5 * time.Microsecond, 10},
		{25 * time.Microsecond, 2}, {time.Millisecond, 1}, {time.Second, 1},
	} {
		if got := takeLimit(c.each); got != c.want {
			t.Errorf("takeLimit(%v) = %d, want %d", c.each, got, c.want)
		}
	}
}

// failingAcks is a recorder whose Ack always fails, as on a dropped broker connection.
type failingAcks struct {
	*recorder
	tried atomic.Int64
}

func (f *failingAcks) Ack(context.Context, Delivery) error {
	f.tried.Add(1)
	return errors.New("connection closed")
}

// countingHandler counts the log records whose message starts with a prefix, and sums
// their "failed" attribute.
type countingHandler struct {
	mu      sync.Mutex
	records int
	failed  int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "courier: ack") {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records++
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "failed" {
			h.failed += a.Value.Int64()
		}
		return true
	})
	return nil
}

// TestFailedAcksAreLoggedInSummary: a burst of failed acknowledgements makes a few log
// lines, not one per message, and together they count every failure.
func TestFailedAcksAreLoggedInSummary(t *testing.T) {
	s := &failingAcks{recorder: newRecorder()}
	logs := &countingHandler{}
	e := NewEngine(context.Background(), courier.HandlerFunc(func(context.Context, courier.Message) error { return nil }),
		s, EngineConfig{Concurrency: 4, Logger: slog.New(logs)})
	const n = 500
	for i := range n {
		submit(t, e, delivery(strconv.Itoa(i), ""))
	}
	waitFor(t, "every ack tried", func() bool { return s.tried.Load() == n })
	e.Close()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if logs.failed != n {
		t.Errorf("log lines count %d failed acks, want %d", logs.failed, n)
	}
	if logs.records > 5 {
		t.Errorf("%d log lines for one burst of %d failed acks, want a few", logs.records, n)
	}
}
