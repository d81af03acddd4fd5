package driver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/courier-go/courier"
)

// batchLog records each call of a batch handler: "msg:<id>#<attempt>" for HandleMessage,
// "batch:<id>,<id>..." for HandleBatch.
type batchLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *batchLog) add(s string) {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

func (l *batchLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// batchHandler logs its calls; fail decides the error of each message (by ID and attempt).
type batchHandler struct {
	log  *batchLog
	gate chan struct{} // HandleMessage of "gate" waits on it
	fail func(m courier.Message) error
	done chan struct{}
	want int // handled messages after which done closes
	mu   sync.Mutex
	n    int
}

func (h *batchHandler) ok(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n += n
	if h.n == h.want {
		close(h.done)
	}
}

func (h *batchHandler) HandleMessage(_ context.Context, m courier.Message) error {
	h.log.add(fmt.Sprintf("msg:%s#%d", m.ID, m.Attempt))
	if m.ID == "gate" {
		<-h.gate
	}
	if err := h.fail(m); err != nil {
		return err
	}
	h.ok(1)
	return nil
}

func (h *batchHandler) HandleBatch(_ context.Context, msgs []courier.Message) error {
	ids := make([]string, len(msgs))
	errs := make([]error, len(msgs))
	failed, succeeded := false, 0
	for i, m := range msgs {
		ids[i] = m.ID
		if errs[i] = h.fail(m); errs[i] != nil {
			failed = true
		} else {
			succeeded++
		}
	}
	h.log.add("batch:" + strings.Join(ids, ","))
	h.ok(succeeded)
	if failed {
		return &courier.BatchError{Errs: errs}
	}
	return nil
}

// TestBatchHandlerGetsBatches: with BatchSize 4 and Concurrency 1, what is ready goes to
// HandleBatch four at a time; a batch of one, and a message retried after its batch failed
// for it, go to HandleMessage; only the failed message comes back; messages of one key never
// share a batch and keep their order.
func TestBatchHandlerGetsBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &batchLog{}
		h := &batchHandler{log: log, gate: make(chan struct{}), done: make(chan struct{}), want: 10,
			fail: func(m courier.Message) error {
				if m.ID == "b2" && m.Attempt == 1 {
					return errors.New("b2 fails once")
				}
				return nil
			}}
		rec := newRecorder()
		e := NewEngine(context.Background(), h, rec, EngineConfig{BatchSize: 4, Backoff: second, Logger: quiet})
		submit(t, e, delivery("gate", "g"))
		synctest.Wait() // the worker took the gate message alone and waits in HandleMessage
		for _, d := range []Delivery{delivery("b1", "x"), delivery("b2", "y"), delivery("b3", "x"), delivery("b4", "z"),
			delivery("b5", "w"), delivery("b6", "v"), delivery("b7", "u"), delivery("b8", "t"), delivery("b9", "s")} {
			submit(t, e, d)
		}
		close(h.gate)
		<-h.done
		e.Close()
		got := log.all()
		want := []string{
			"msg:gate#1",
			"batch:b1,b2,b4,b5", // b3 waits for b1, its key's message before it
			"batch:b6,b7,b8,b9",
			"msg:b3#1", // alone: a batch of one
			"msg:b2#2", // b2 alone, after its backoff
		}
		if !slices.Equal(got, want) {
			t.Fatalf("calls %q, want %q", got, want)
		}
		rec.settledOnce(t, []string{"gate", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"})
		if rec.acked["b2"] != 1 || rec.retried["b2"] != 1 {
			t.Fatalf("b2 acked %d, retried %d times; want once each", rec.acked["b2"], rec.retried["b2"])
		}
	})
}

// TestBatchErrorRetriesEveryMessageAlone: a HandleBatch error that is not a *BatchError with
// one error per message fails every message of the batch; each comes back alone.
func TestBatchErrorRetriesEveryMessageAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &batchLog{}
		var calls int
		var mu sync.Mutex
		h := &batchHandler{log: log, gate: make(chan struct{}), done: make(chan struct{}), want: 3,
			fail: func(m courier.Message) error { return nil }}
		failAll := courier.BatchHandlerFunc(func(ctx context.Context, msgs []courier.Message) error {
			mu.Lock()
			calls++
			first := calls == 2 // the call after the gate message's
			mu.Unlock()
			if len(msgs) > 1 && first {
				log.add(fmt.Sprintf("batch of %d failed", len(msgs)))
				return errors.New("database down")
			}
			if len(msgs) > 1 {
				return h.HandleBatch(ctx, msgs)
			}
			return h.HandleMessage(ctx, msgs[0])
		})
		close(h.gate)
		rec := newRecorder()
		e := NewEngine(context.Background(), failAll, rec, EngineConfig{BatchSize: 8, Backoff: second, Logger: quiet})
		submit(t, e, delivery("gate", "g"))
		synctest.Wait()
		if n, err := e.SubmitAll(context.Background(), []Delivery{delivery("a", "a"), delivery("b", "b")}); err != nil || n != 2 {
			t.Fatalf("SubmitAll: %d, %v", n, err) // both at once: the worker takes them together
		}
		<-h.done
		e.Close()
		got := log.all()
		if len(got) == 4 {
			slices.Sort(got[2:]) // a and b, of different keys, come back in either order
		}
		want := []string{"msg:gate#1", "batch of 2 failed", "msg:a#2", "msg:b#2"}
		if !slices.Equal(got, want) {
			t.Fatalf("calls %q, want %q", got, want)
		}
		rec.settledOnce(t, []string{"gate", "a", "b"})
	})
}
