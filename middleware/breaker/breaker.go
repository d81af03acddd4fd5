// Package breaker is a circuit breaker for consumers and producers, on
// github.com/sony/gobreaker/v2.
//
// A Breaker counts the outcomes of handler calls (or sends) and opens when its ReadyToTrip
// says so; after Settings.Timeout it is half-open and lets Settings.MaxRequests calls through
// as probes; their successes close it, a failure opens it again.
//
// What counts: an error counts as a failure unless it is a context error (context.Canceled or
// context.DeadlineExceeded, wrapped or not: a consumer shutting down or a caller giving up
// says nothing about the downstream), a permanent error (marked with courier.Permanent: the
// message is at fault, not the downstream), a middleware.ErrInProgress from a dedup inside
// the breaker (another consumer has the message), or one the Settings.IsExcluded given to New
// excludes. A handler that wants a downstream timeout to count returns an error of its own
// for it instead of the context's.
//
// The two sides behave differently while the breaker is open:
//   - Consumer ([Breaker.Middleware]): the handler call waits until the breaker lets it
//     through (half-open, and a probe slot is free, or closed) or its context ends. No message
//     fails because of the breaker, so none spends an Attempt or reaches a dead-letter topic
//     while the downstream is down; the consumer simply stops taking messages. The waiting
//     handlers hold their messages, so keep Settings.Timeout (the open period) well below the
//     broker's own limits on an unacknowledged delivery (RabbitMQ's consumer_timeout, the
//     idle time after which Redis Streams consumers claim pending entries...).
//   - Producer ([Breaker.Producer]): Send and SendBatch fail at once with an error wrapping
//     [ErrOpen] (and gobreaker's ErrOpenState or ErrTooManyRequests), so the caller can answer
//     its own caller instead of hanging.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware"
	"github.com/sony/gobreaker/v2"
)

// ErrOpen is wrapped by the errors of a Producer's Send and SendBatch that the breaker refused.
var ErrOpen = errors.New("breaker: open")

// defaultTimeout is gobreaker's open period when Settings.Timeout is 0.
const defaultTimeout = 60 * time.Second

// Breaker is a circuit breaker shared by the handlers and producers it wraps. It is safe for
// concurrent use.
type Breaker struct {
	cb      *gobreaker.CircuitBreaker[bool] // the result says whether the request ran
	name    string
	timeout time.Duration
	state   atomic.Int32 // the last gobreaker.State seen through OnStateChange

	mu       sync.Mutex
	changed  chan struct{} // closed (and replaced) when the state changes or a probe finishes
	openedAt time.Time
}

// New returns a Breaker with st, gobreaker's settings (see gobreaker.Settings: zero values
// select its defaults, e.g. opening after more than 5 consecutive failures and half-opening
// after 60s). St.IsExcluded adds to the errors that never count (see the package
// documentation); st.OnStateChange is called as with gobreaker.
func New(st gobreaker.Settings) (*Breaker, error) {
	var problems []string
	if st.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("negative Timeout %v", st.Timeout))
	}
	if st.Interval < 0 {
		problems = append(problems, fmt.Sprintf("negative Interval %v", st.Interval))
	}
	if st.BucketPeriod < 0 {
		problems = append(problems, fmt.Sprintf("negative BucketPeriod %v", st.BucketPeriod))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: breaker %q: %s", courier.ErrInvalidConfig, st.Name, strings.Join(problems, "; "))
	}
	b := &Breaker{name: st.Name, timeout: st.Timeout, changed: make(chan struct{})}
	if b.timeout == 0 {
		b.timeout = defaultTimeout
	}
	userExcluded, userChange := st.IsExcluded, st.OnStateChange
	st.IsExcluded = func(err error) bool {
		if err == nil { // gobreaker asks of successes too
			return false
		}
		return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
			courier.IsPermanent(err) || errors.Is(err, middleware.ErrInProgress) || (userExcluded != nil && userExcluded(err))
	}
	st.OnStateChange = func(name string, from, to gobreaker.State) {
		b.mu.Lock()
		b.state.Store(int32(to))
		if to == gobreaker.StateOpen {
			b.openedAt = time.Now()
		}
		b.wake()
		b.mu.Unlock()
		if userChange != nil {
			userChange(name, from, to)
		}
	}
	b.cb = gobreaker.NewCircuitBreaker[bool](st)
	return b, nil
}

// State returns the breaker's state.
func (b *Breaker) State() gobreaker.State { return b.cb.State() }

// Counts returns the breaker's counts in its current state.
func (b *Breaker) Counts() gobreaker.Counts { return b.cb.Counts() }

// wake wakes the calls waiting for the breaker; mu is held.
func (b *Breaker) wake() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// do runs f through the breaker once. It reports whether f ran; when it did not, err is the
// breaker's refusal and wait, taken before asking the breaker, is closed by the next change.
func (b *Breaker) do(f func() error) (ran bool, wait <-chan struct{}, err error) {
	if gobreaker.State(b.state.Load()) != gobreaker.StateClosed {
		b.mu.Lock()
		wait = b.changed
		b.mu.Unlock()
	}
	ran, err = b.cb.Execute(func() (bool, error) { return true, f() }) // false when refused
	if ran && gobreaker.State(b.state.Load()) == gobreaker.StateHalfOpen {
		b.mu.Lock()
		b.wake() // a probe finished: an excluded outcome frees its slot without a state change
		b.mu.Unlock()
	}
	return ran, wait, err
}

// Middleware returns a middleware that passes each handler call through the breaker and,
// while the breaker refuses calls, waits for it (see the package documentation). A call whose
// context ends while it waits returns an error wrapping the context's error, without running
// the handler.
func (b *Breaker) Middleware() courier.Middleware {
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &handler{b: b, next: next}
	}
}

type handler struct {
	b    *Breaker
	next courier.MessageHandler
}

func (h *handler) HandleMessage(ctx context.Context, msg courier.Message) error {
	for {
		ran, wait, err := h.b.do(func() error { return h.next.HandleMessage(ctx, msg) })
		if ran {
			return err
		}
		if werr := h.b.waitFor(ctx, wait, err); werr != nil {
			return fmt.Errorf("breaker %q: message %s on %q: waiting for the breaker (%v): %w", h.b.name, msg.ID, msg.Topic, err, werr)
		}
	}
}

// waitFor waits until the breaker may let a call through: its open period ends, or wait is
// closed. It returns ctx's error when ctx ends first.
func (b *Breaker) waitFor(ctx context.Context, wait <-chan struct{}, refusal error) error {
	if wait == nil { // the state was closed when the call was refused: it changed since
		return ctx.Err()
	}
	var timer <-chan time.Time
	if errors.Is(refusal, gobreaker.ErrOpenState) {
		b.mu.Lock()
		halfOpenAt := b.openedAt.Add(b.timeout + time.Nanosecond) // gobreaker half-opens strictly after its expiry
		b.mu.Unlock()
		t := time.NewTimer(time.Until(halfOpenAt))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-wait:
	case <-timer:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Producer returns p with Send and SendBatch passed through the breaker: while it refuses
// calls they fail at once with an error wrapping ErrOpen. A SendBatch counts once. Close
// closes p.
func (b *Breaker) Producer(p courier.Producer) (courier.Producer, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: breaker %q: nil producer", courier.ErrInvalidConfig, b.name)
	}
	return &producer{b: b, p: p}, nil
}

type producer struct {
	b *Breaker
	p courier.Producer
}

func (p *producer) Send(ctx context.Context, msg courier.Message) error {
	ran, _, err := p.b.do(func() error { return p.p.Send(ctx, msg) })
	if !ran {
		return fmt.Errorf("%w: breaker %q: send to %q: %w", ErrOpen, p.b.name, msg.Topic, err)
	}
	return err
}

func (p *producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	ran, _, err := p.b.do(func() error { return p.p.SendBatch(ctx, msgs) })
	if !ran {
		return fmt.Errorf("%w: breaker %q: send batch of %d: %w", ErrOpen, p.b.name, len(msgs), err)
	}
	return err
}

func (p *producer) Close() error { return p.p.Close() }
