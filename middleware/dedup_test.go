package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware"
	"github.com/courier-go/courier/middleware/deduptest"
)

func newMemoryStore(t testing.TB, maxKeys int) *middleware.MemoryStore {
	t.Helper()
	s, err := middleware.NewMemoryStore(middleware.MemoryStoreConfig{MaxKeys: maxKeys})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMemoryStoreSuite(t *testing.T) {
	deduptest.Run(t, func(t *testing.T) middleware.Store { return newMemoryStore(t, 0) },
		deduptest.Options{Bubble: synctest.Test})
}

func TestMemoryStoreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newMemoryStore(t, 4)
		ctx := t.Context()
		for i := range 10 {
			key := fmt.Sprint(i)
			_, tok, _ := s.Claim(ctx, key, time.Hour)
			if err := s.Commit(ctx, key, tok, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if st := s.Stats(); st.Keys != 4 || st.Evicted != 6 {
			t.Fatalf("stats %+v, want 4 keys and 6 evicted", st)
		}
		for _, c := range []struct {
			key  int
			want middleware.ClaimStatus
		}{{6, middleware.Done}, {9, middleware.Done}, {5, middleware.Claimed}, {0, middleware.Claimed}} {
			if got, _, _ := s.Claim(ctx, fmt.Sprint(c.key), time.Hour); got != c.want {
				t.Errorf("key %d: %v, want %v (the oldest keys go first)", c.key, got, c.want)
			}
		}

		// Expired keys leave without counting as evicted, and without a sweeping goroutine.
		s = newMemoryStore(t, 4)
		for i := range 4 {
			s.Claim(ctx, fmt.Sprint(i), time.Second)
		}
		time.Sleep(2 * time.Second)
		for i := range 4 {
			s.Claim(ctx, fmt.Sprint("new", i), time.Hour)
		}
		if st := s.Stats(); st.Keys != 4 || st.Evicted != 0 {
			t.Fatalf("stats %+v, want 4 keys and none evicted", st)
		}
	})
	if _, err := middleware.NewMemoryStore(middleware.MemoryStoreConfig{MaxKeys: -1}); !errors.Is(err, courier.ErrInvalidConfig) || !strings.Contains(err.Error(), "MaxKeys") {
		t.Fatalf("negative MaxKeys: %v", err)
	}
}

func mustDedup(t testing.TB, cfg middleware.DedupConfig) courier.Middleware {
	t.Helper()
	m, err := middleware.Dedup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDedupConfig(t *testing.T) {
	_, err := middleware.Dedup(middleware.DedupConfig{Lease: -1, TTL: -1})
	if !errors.Is(err, courier.ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"nil Store", "negative Lease", "negative TTL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %q", err, want)
		}
	}
}

// counter is a handler that counts its calls per message ID and answers with fn.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(ctx context.Context, msg courier.Message, call int) error
}

func (c *counter) HandleMessage(ctx context.Context, msg courier.Message) error {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[msg.ID]++
	n := c.calls[msg.ID]
	c.mu.Unlock()
	if c.fn != nil {
		return c.fn(ctx, msg, n)
	}
	return nil
}

func (c *counter) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

func TestDedupFailedAttemptRunsAgain(t *testing.T) {
	store := newMemoryStore(t, 0)
	c := &counter{fn: func(_ context.Context, _ courier.Message, call int) error {
		if call == 1 {
			return errBoom
		}
		return nil
	}}
	h := mustDedup(t, middleware.DedupConfig{Store: store})(c)
	msg := courier.Message{ID: "m1", Topic: "orders"}
	if err := h.HandleMessage(t.Context(), msg); err != errBoom {
		t.Fatalf("first attempt: %v, want the handler's error", err)
	}
	msg.Attempt = 2
	if err := h.HandleMessage(t.Context(), msg); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	msg.Attempt = 3
	if err := h.HandleMessage(t.Context(), msg); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	if n := c.count("m1"); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (failed, then succeeded; the duplicate skipped)", n)
	}
}

func TestDedupPanicReleases(t *testing.T) {
	store := newMemoryStore(t, 0)
	c := &counter{fn: func(_ context.Context, _ courier.Message, call int) error {
		if call == 1 {
			panic("first")
		}
		return nil
	}}
	h := courier.Chain(c, middleware.Recover(slog.New(slog.DiscardHandler)), mustDedup(t, middleware.DedupConfig{Store: store}))
	msg := courier.Message{ID: "m1", Topic: "orders"}
	var pe *middleware.PanicError
	if err := h.HandleMessage(t.Context(), msg); !errors.As(err, &pe) {
		t.Fatalf("first attempt: %v, want a PanicError", err)
	}
	if err := h.HandleMessage(t.Context(), msg); err != nil {
		t.Fatalf("redelivery after the panic: %v (the claim was not released)", err)
	}
	if n := c.count("m1"); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
}

func TestDedupTwoConsumersSameID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemoryStore(t, 0)
		release := make(chan struct{})
		c := &counter{fn: func(context.Context, courier.Message, int) error { <-release; return nil }}
		// Two consumers (two middleware instances, one store) get the same message at once.
		a := mustDedup(t, middleware.DedupConfig{Store: store})(c)
		b := mustDedup(t, middleware.DedupConfig{Store: store})(c)
		msg := courier.Message{ID: "same", Topic: "orders"}
		errA := make(chan error, 1)
		go func() { errA <- a.HandleMessage(t.Context(), msg) }()
		synctest.Wait() // a is in the handler
		if err := b.HandleMessage(t.Context(), msg); !errors.Is(err, middleware.ErrInProgress) {
			t.Fatalf("b while a handles the message: %v, want ErrInProgress", err)
		}
		close(release)
		if err := <-errA; err != nil {
			t.Fatal(err)
		}
		if err := b.HandleMessage(t.Context(), msg); err != nil { // b's redelivery
			t.Fatalf("b's redelivery: %v", err)
		}
		if n := c.count("same"); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
	})
}

// crashingStore stops the calling goroutine at Commit, as a consumer that dies between its
// handler and the commit would.
type crashingStore struct{ middleware.Store }

func (crashingStore) Commit(context.Context, string, middleware.Token, time.Duration) error {
	runtime.Goexit()
	return nil
}

func TestDedupCrashBeforeCommitRerunsAfterLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newMemoryStore(t, 0)
		c := &counter{}
		const lease = 30 * time.Second
		crashed := mustDedup(t, middleware.DedupConfig{Store: crashingStore{store}, Lease: lease})(c)
		survivor := mustDedup(t, middleware.DedupConfig{Store: store, Lease: lease})(c)
		msg := courier.Message{ID: "m1", Topic: "orders"}
		go crashed.HandleMessage(t.Context(), msg)
		synctest.Wait()
		if n := c.count("m1"); n != 1 {
			t.Fatalf("crashed consumer's handler ran %d times, want 1", n)
		}
		start := time.Now()
		time.Sleep(lease - time.Second)
		if err := survivor.HandleMessage(t.Context(), msg); !errors.Is(err, middleware.ErrInProgress) {
			t.Fatalf("redelivery within the lease: %v, want ErrInProgress", err)
		}
		time.Sleep(time.Second)
		if err := survivor.HandleMessage(t.Context(), msg); err != nil {
			t.Fatalf("redelivery after the lease: %v", err)
		}
		if n := c.count("m1"); n != 2 {
			t.Fatalf("handler ran %d times, want 2 (the crashed run and the rerun after %v)", n, time.Since(start))
		}
		if err := survivor.HandleMessage(t.Context(), msg); err != nil || c.count("m1") != 2 {
			t.Fatalf("copy after the rerun committed: err %v, %d runs; want nil, 2", err, c.count("m1"))
		}
	})
}

func TestDedupKeyAndEmptyKey(t *testing.T) {
	store := newMemoryStore(t, 0)
	c := &counter{}
	byOrder := mustDedup(t, middleware.DedupConfig{Store: store, Key: func(m courier.Message) string { return m.Headers["order"] }})(c)
	for i, order := range []string{"o1", "o1", "o2"} {
		if err := byOrder.HandleMessage(t.Context(), courier.Message{ID: fmt.Sprint(i), Topic: "t", Headers: map[string]string{"order": order}}); err != nil {
			t.Fatal(err)
		}
	}
	if c.count("0") != 1 || c.count("1") != 0 || c.count("2") != 1 {
		t.Fatalf("calls %v, want messages 0 and 2 run, 1 skipped as a copy of 0", c.calls)
	}
	err := byOrder.HandleMessage(t.Context(), courier.Message{ID: "x", Topic: "t"})
	if !errors.Is(err, middleware.ErrEmptyKey) || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("empty key: %v, want ErrEmptyKey naming the message", err)
	}
}

// failingStore fails every call with err.
type failingStore struct{ err error }

func (s failingStore) Claim(context.Context, string, time.Duration) (middleware.ClaimStatus, middleware.Token, error) {
	return 0, 0, s.err
}
func (s failingStore) Commit(context.Context, string, middleware.Token, time.Duration) error {
	return s.err
}
func (s failingStore) Release(context.Context, string, middleware.Token) error { return s.err }

func TestDedupStoreDown(t *testing.T) {
	c := &counter{}
	down := errors.New("store down")
	h := mustDedup(t, middleware.DedupConfig{Store: failingStore{down}})(c)
	if err := h.HandleMessage(t.Context(), courier.Message{ID: "m", Topic: "t"}); !errors.Is(err, down) || c.count("m") != 0 {
		t.Fatalf("err %v, %d runs; want the store's error and no run", err, c.count("m"))
	}
}

// TestDedupOnBroker runs the middleware on the memory broker: a producer sends each message
// twice with one ID (a retry after a lost reply), two consumers of one group share them, and
// every message's handler runs exactly once while all copies are acknowledged.
func TestDedupOnBroker(t *testing.T) {
	const n = 50
	c := &counter{}
	deduptest.DeliverTwice(t, mustDedup(t, middleware.DedupConfig{Store: newMemoryStore(t, 0)})(c), n)
	for i := range n {
		if got := c.count(fmt.Sprintf("m%d", i)); got != 1 {
			t.Errorf("m%d ran %d times, want 1", i, got)
		}
	}
}
