package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/memory"
)

// batchRecorder is a BatchHandler that records its batches and answers with fn.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]string // IDs
	fn      func(msgs []courier.Message) error
}

func (r *batchRecorder) HandleBatch(_ context.Context, msgs []courier.Message) error {
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	r.mu.Lock()
	r.batches = append(r.batches, ids)
	fn := r.fn
	r.mu.Unlock()
	if fn != nil {
		return fn(msgs)
	}
	return nil
}

func (r *batchRecorder) got() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func newHandler(t *testing.T, h BatchHandler, cfg HandlerConfig) *Handler {
	t.Helper()
	bh, err := NewHandler(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return bh
}

// deliver calls HandleMessage for each ID concurrently, as a consumer with enough Concurrency
// would, and returns the results by ID.
func deliver(ctx context.Context, h courier.MessageHandler, ids ...string) map[string]error {
	var mu sync.Mutex
	res := make(map[string]error)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			err := h.HandleMessage(ctx, courier.Message{ID: id, Topic: "t"})
			mu.Lock()
			res[id] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return res
}

func TestHandlerBatchBySize(t *testing.T) {
	rec := &batchRecorder{}
	h := newHandler(t, rec, HandlerConfig{MaxSize: 3, MaxWait: time.Hour})
	res := deliver(context.Background(), h, "a", "b", "c")
	noErrors(t, res)
	if got := rec.got(); len(got) != 1 || len(got[0]) != 3 {
		t.Fatalf("batches = %v, want one of 3", got)
	}
}

func TestHandlerBatchByWait(t *testing.T) {
	rec := &batchRecorder{}
	const wait = 30 * time.Millisecond
	h := newHandler(t, rec, HandlerConfig{MaxSize: 10, MaxWait: wait})
	start := time.Now()
	noErrors(t, deliver(context.Background(), h, "a", "b"))
	if d := time.Since(start); d < wait {
		t.Fatalf("batch handled after %v, before MaxWait %v", d, wait)
	}
	if got := rec.got(); len(got) != 1 || len(got[0]) != 2 {
		t.Fatalf("batches = %v, want one of 2", got)
	}
}

func TestHandlerFailedBatchFailsAll(t *testing.T) {
	boom := errors.New("db down")
	rec := &batchRecorder{fn: func([]courier.Message) error { return boom }}
	h := newHandler(t, rec, HandlerConfig{MaxSize: 2, MaxWait: time.Hour})
	for id, err := range deliver(context.Background(), h, "a", "b") {
		if !errors.Is(err, boom) {
			t.Fatalf("%s: got %v, want the batch error", id, err)
		}
	}
}

func TestHandlerPartialError(t *testing.T) {
	boom := errors.New("row rejected")
	rec := &batchRecorder{fn: func(msgs []courier.Message) error {
		for i, m := range msgs {
			if m.ID == "bad" {
				return &PartialError{Failed: []int{i}, Err: boom}
			}
		}
		return nil
	}}
	h := newHandler(t, rec, HandlerConfig{MaxSize: 3, MaxWait: time.Hour})
	res := deliver(context.Background(), h, "a", "bad", "c")
	if res["a"] != nil || res["c"] != nil {
		t.Fatalf("good messages failed: %v", res)
	}
	if !errors.Is(res["bad"], boom) {
		t.Fatalf("bad: got %v, want its error", res["bad"])
	}

	// A PartialError naming an index outside the batch cannot say which failed: all fail.
	rec.mu.Lock()
	rec.fn = func([]courier.Message) error { return &PartialError{Failed: []int{7}, Err: boom} }
	rec.mu.Unlock()
	for id, err := range deliver(context.Background(), h, "x", "y", "z") {
		if !errors.Is(err, boom) || !strings.Contains(fmt.Sprint(err), "outside the batch") {
			t.Fatalf("%s: got %v, want every message failed", id, err)
		}
	}
}

func TestHandlerPanicFailsBatch(t *testing.T) {
	rec := &batchRecorder{fn: func([]courier.Message) error { panic("oops") }}
	h := newHandler(t, rec, HandlerConfig{MaxSize: 2, MaxWait: time.Hour})
	for id, err := range deliver(context.Background(), h, "a", "b") {
		if err == nil || !strings.Contains(err.Error(), "panicked") {
			t.Fatalf("%s: got %v, want a panic error", id, err)
		}
	}
}

func TestHandlerDeliveryLeavesUnsealedBatch(t *testing.T) {
	rec := &batchRecorder{}
	h := newHandler(t, rec, HandlerConfig{MaxSize: 3, MaxWait: time.Hour})
	ctx := context.Background()
	leader := make(chan error)
	go func() { leader <- h.HandleMessage(ctx, courier.Message{ID: "a"}) }()
	waitFor(t, "a in batch", func() bool { return h.pendingNow() == 1 })

	cctx, cancel := context.WithCancel(ctx)
	left := make(chan error)
	go func() { left <- h.HandleMessage(cctx, courier.Message{ID: "gone"}) }()
	waitFor(t, "gone in batch", func() bool { return h.pendingNow() == 2 })
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled delivery: %v, want context.Canceled", err)
	}
	noErrors(t, deliver(ctx, h, "b", "c"))
	if err := <-leader; err != nil {
		t.Fatal(err)
	}
	got := rec.got()
	if len(got) != 1 || slices.Contains(got[0], "gone") || len(got[0]) != 3 {
		t.Fatalf("batches = %v, want [a b c] without the cancelled delivery", got)
	}
}

func TestHandlerLeaderCancelledFailsAll(t *testing.T) {
	rec := &batchRecorder{}
	h := newHandler(t, rec, HandlerConfig{MaxSize: 3, MaxWait: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error)
	go func() { leader <- h.HandleMessage(ctx, courier.Message{ID: "a"}) }()
	waitFor(t, "a in batch", func() bool { return h.pendingNow() == 1 })
	follower := make(chan error)
	go func() { follower <- h.HandleMessage(context.Background(), courier.Message{ID: "b"}) }()
	waitFor(t, "b in batch", func() bool { return h.pendingNow() == 2 })
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v", err)
	}
	if err := <-follower; !errors.Is(err, context.Canceled) {
		t.Fatalf("follower: %v, want the batch unhandled", err)
	}
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("batches = %v, want none handled", got)
	}
}

func (h *Handler) pendingNow() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur == nil {
		return 0
	}
	return h.cur.live
}

func TestHandlerConfig(t *testing.T) {
	if _, err := NewHandler(nil, HandlerConfig{}); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil handler: %v", err)
	}
	if _, err := NewHandler(&batchRecorder{}, HandlerConfig{MaxSize: -1}); err == nil || !strings.Contains(err.Error(), "negative MaxSize") {
		t.Errorf("negative MaxSize: %v", err)
	}
	if _, err := NewHandler(&batchRecorder{}, HandlerConfig{MaxWait: -1}); err == nil || !strings.Contains(err.Error(), "negative MaxWait") {
		t.Errorf("negative MaxWait: %v", err)
	}
	cfg := HandlerConfig{MaxSize: 8}
	err := cfg.CheckConsumer(courier.ConsumerConfig{Group: "g", Concurrency: 4})
	if !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "MaxSize 8 exceeds the Concurrency 4") {
		t.Errorf("CheckConsumer: %v", err)
	}
	if err := cfg.CheckConsumer(courier.ConsumerConfig{Group: "g", Concurrency: 8}); err != nil {
		t.Errorf("CheckConsumer with enough Concurrency: %v", err)
	}
}

// TestHandlerOnConsumer runs the handler under a memory consumer: good batches are acknowledged
// once, and only the message a PartialError names comes back, with Attempt 2.
func TestHandlerOnConsumer(t *testing.T) {
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cc := courier.ConsumerConfig{Group: "g", Topics: []string{"orders"}, Concurrency: 4,
		Backoff: courier.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1}}
	hc := HandlerConfig{MaxSize: 4, MaxWait: 20 * time.Millisecond}
	if err := hc.CheckConsumer(cc); err != nil {
		t.Fatal(err)
	}
	c, err := b.NewConsumer(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string][]int{} // value -> attempts
	changed := make(chan struct{}, 1)
	h := newHandler(t, BatchHandlerFunc(func(_ context.Context, msgs []courier.Message) error {
		mu.Lock()
		defer mu.Unlock()
		defer func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		}()
		var failed []int
		for i, m := range msgs {
			v := string(m.Value)
			seen[v] = append(seen[v], m.Attempt)
			if v == "bad" && m.Attempt == 1 {
				failed = append(failed, i)
			}
		}
		if len(failed) > 0 {
			return &PartialError{Failed: failed, Err: errors.New("rejected")}
		}
		return nil
	}), hc)
	p, err := b.NewProducer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	values := []string{"a", "b", "bad", "c", "d", "e", "f", "g"}
	for _, v := range values {
		if err := p.Send(ctx, courier.Message{Topic: "orders", Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error)
	go func() { done <- c.Consume(ctx, h) }()
	for {
		mu.Lock()
		finished := len(seen["bad"]) == 2
		mu.Unlock()
		if finished {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("timed out waiting for the failed message to come back")
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range values {
		want := []int{1}
		if v == "bad" {
			want = []int{1, 2}
		}
		if !slices.Equal(seen[v], want) {
			t.Errorf("%s handled at attempts %v, want %v", v, seen[v], want)
		}
	}
}
