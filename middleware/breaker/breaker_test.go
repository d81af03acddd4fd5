package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware"
	"github.com/courier-go/courier/middleware/breaker"
	"github.com/sony/gobreaker/v2"
)

var errDown = errors.New("downstream down")

func mustNew(t testing.TB, st gobreaker.Settings) *breaker.Breaker {
	t.Helper()
	b, err := breaker.New(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tripAfter3 opens after 3 consecutive failures and half-opens after 10s.
var tripAfter3 = gobreaker.Settings{Name: "partner", Timeout: 10 * time.Second,
	ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 }}

func TestConfig(t *testing.T) {
	_, err := breaker.New(gobreaker.Settings{Name: "x", Timeout: -1, Interval: -1, BucketPeriod: -1})
	if !errors.Is(err, courier.ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`"x"`, "negative Timeout", "negative Interval", "negative BucketPeriod"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %q", err, want)
		}
	}
	if _, err := mustNew(t, gobreaker.Settings{}).Producer(nil); !errors.Is(err, courier.ErrInvalidConfig) {
		t.Errorf("nil producer: %v", err)
	}
}

func TestExcludedErrorsNeverTrip(t *testing.T) {
	b := mustNew(t, tripAfter3)
	var failWith atomic.Pointer[error]
	h := b.Middleware()(courier.HandlerFunc(func(context.Context, courier.Message) error { return *failWith.Load() }))
	for _, err := range []error{
		context.Canceled, context.DeadlineExceeded,
		fmt.Errorf("query: %w", context.DeadlineExceeded),
		courier.Permanent(errors.New("cannot parse")),
		fmt.Errorf("%w: message m1", middleware.ErrInProgress),
	} {
		failWith.Store(&err)
		for range 10 {
			if got := h.HandleMessage(t.Context(), courier.Message{}); got != err {
				t.Fatalf("handler error %v came back as %v", err, got)
			}
		}
		if s := b.State(); s != gobreaker.StateClosed {
			t.Fatalf("after 10 x %v the breaker is %v, want closed", err, s)
		}
	}
	if c := b.Counts(); c.TotalFailures != 0 || c.TotalExclusions != 50 {
		t.Fatalf("counts %+v, want 0 failures and 50 exclusions", c)
	}
	err := errDown
	failWith.Store(&err)
	for range 3 {
		h.HandleMessage(t.Context(), courier.Message{})
	}
	if s := b.State(); s != gobreaker.StateOpen {
		t.Fatalf("after 3 real failures the breaker is %v, want open", s)
	}
}

// TestOpenWaitsNoAttemptSpent: while the breaker is open, messages wait for it instead of
// failing; the half-open breaker lets MaxRequests probes through at once; their success closes
// it and the rest follow.
func TestOpenWaitsNoAttemptSpent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := tripAfter3
		st.MaxRequests = 3
		b := mustNew(t, st)
		var healthy atomic.Bool
		var mu sync.Mutex
		inFlight, maxInFlight, calls := 0, 0, 0
		probeGate := make(chan struct{})
		h := b.Middleware()(courier.HandlerFunc(func(context.Context, courier.Message) error {
			mu.Lock()
			calls++
			inFlight++
			maxInFlight = max(maxInFlight, inFlight)
			mu.Unlock()
			defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
			if !healthy.Load() {
				return errDown
			}
			<-probeGate
			return nil
		}))
		for range 3 {
			if err := h.HandleMessage(t.Context(), courier.Message{}); err != errDown {
				t.Fatalf("err = %v", err)
			}
		}
		if b.State() != gobreaker.StateOpen {
			t.Fatal("not open after 3 failures")
		}
		openedAt := time.Now()
		healthy.Store(true)
		mu.Lock()
		calls, maxInFlight = 0, 0
		mu.Unlock()

		// Ten messages arrive while the breaker is open: none runs and none fails.
		const n = 10
		errs := make(chan error, n)
		for range n {
			go func() { errs <- h.HandleMessage(t.Context(), courier.Message{}) }()
		}
		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		mu.Lock()
		if calls != 0 || len(errs) != 0 {
			t.Fatalf("while open: %d handler calls and %d results, want none", calls, len(errs))
		}
		mu.Unlock()

		// Half-open: exactly MaxRequests probes run, the others keep waiting.
		time.Sleep(time.Millisecond + time.Nanosecond)
		synctest.Wait()
		mu.Lock()
		if calls != 3 || inFlight != 3 {
			t.Fatalf("half-open after %v: %d calls, %d in flight, want the 3 probes", time.Since(openedAt), calls, inFlight)
		}
		mu.Unlock()
		close(probeGate) // the probes succeed: closed, and the rest run
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("a message waiting for the breaker failed: %v", err)
			}
		}
		if b.State() != gobreaker.StateClosed || calls != n {
			t.Fatalf("state %v, %d calls, want closed and %d", b.State(), calls, n)
		}
	})
}

func TestFailedProbeReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, tripAfter3)
		var calls atomic.Int32
		var healthyAt time.Time
		start := time.Now()
		healthyAt = start.Add(15 * time.Second)
		h := b.Middleware()(courier.HandlerFunc(func(context.Context, courier.Message) error {
			calls.Add(1)
			if time.Now().Before(healthyAt) {
				return errDown
			}
			return nil
		}))
		for range 3 {
			h.HandleMessage(t.Context(), courier.Message{})
		}
		// At 10s the probe fails (reopening until 20s); at 20s it succeeds.
		if err := h.HandleMessage(t.Context(), courier.Message{}); err != errDown {
			t.Fatalf("first probe: %v, want the handler's error", err)
		}
		if got := time.Since(start); got != 10*time.Second+time.Nanosecond {
			t.Fatalf("first probe at %v, want 10s", got)
		}
		if err := h.HandleMessage(t.Context(), courier.Message{}); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 20*time.Second+2*time.Nanosecond || calls.Load() != 5 {
			t.Fatalf("second probe at %v after %d calls, want 20s and 5", got, calls.Load())
		}
	})
}

func TestWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, tripAfter3)
		var calls atomic.Int32
		h := b.Middleware()(courier.HandlerFunc(func(context.Context, courier.Message) error { calls.Add(1); return errDown }))
		for range 3 {
			h.HandleMessage(t.Context(), courier.Message{})
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		err := h.HandleMessage(ctx, courier.Message{ID: "m1", Topic: "orders"})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "m1") {
			t.Fatalf("err = %v, want DeadlineExceeded naming the message", err)
		}
		if time.Since(start) != time.Second || calls.Load() != 3 {
			t.Fatalf("returned after %v with %d calls; want 1s and no new call", time.Since(start), calls.Load())
		}
		if b.State() != gobreaker.StateOpen {
			t.Fatalf("state %v; the cancelled wait must not count", b.State())
		}
	})
}

type fakeProducer struct {
	err   atomic.Pointer[error]
	sends atomic.Int32
}

func (p *fakeProducer) Send(context.Context, courier.Message) error { return p.result() }
func (p *fakeProducer) SendBatch(context.Context, []courier.Message) error {
	return p.result()
}
func (p *fakeProducer) Close() error { return nil }
func (p *fakeProducer) result() error {
	p.sends.Add(1)
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}

func TestProducerFailsFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mustNew(t, tripAfter3)
		inner := &fakeProducer{}
		p, err := b.Producer(inner)
		if err != nil {
			t.Fatal(err)
		}
		down := error(&courier.BatchError{Errs: []error{errDown, nil}})
		inner.err.Store(&down)
		for range 3 {
			if err := p.SendBatch(t.Context(), make([]courier.Message, 2)); !errors.Is(err, errDown) {
				t.Fatalf("err = %v", err)
			}
		}
		start := time.Now()
		err = p.Send(t.Context(), courier.Message{Topic: "orders"})
		if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, gobreaker.ErrOpenState) || !strings.Contains(err.Error(), "orders") {
			t.Fatalf("Send while open: %v, want ErrOpen and ErrOpenState naming the topic", err)
		}
		if err := p.SendBatch(t.Context(), make([]courier.Message, 2)); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("SendBatch while open: %v", err)
		}
		if time.Since(start) != 0 || inner.sends.Load() != 3 {
			t.Fatalf("refusals took %v and reached the producer %d times; want at once, 3", time.Since(start), inner.sends.Load())
		}
		time.Sleep(10*time.Second + time.Nanosecond)
		inner.err.Store(nil)
		if err := p.Send(t.Context(), courier.Message{Topic: "orders"}); err != nil {
			t.Fatalf("probe send: %v", err)
		}
		if b.State() != gobreaker.StateClosed {
			t.Fatalf("state %v after a good probe, want closed", b.State())
		}
	})
}
