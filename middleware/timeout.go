package middleware

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/courier-go/courier"
)

// Timeout returns a middleware that gives each handler call a context whose deadline is d
// from the start of the call (or the caller's deadline, when that is earlier). A handler that
// watches its context sees context.DeadlineExceeded after d; Go cannot stop one that does not.
// The handler's error is returned unchanged. d must be > 0.
//
// The context is recycled after the handler returns (that is what makes the middleware free
// of allocations): like the context of an http.Handler it is valid only until the handler
// returns. A goroutine the handler leaves running must not keep using it; give such a
// goroutine a context of its own (context.WithoutCancel(ctx) keeps the values). Until the
// context is recycled, it reports context.Canceled, as one from context.WithTimeout does after
// its cancel function was called.
func Timeout(d time.Duration) (courier.Middleware, error) {
	if d <= 0 {
		return nil, fmt.Errorf("%w: middleware timeout %v must be > 0", courier.ErrInvalidConfig, d)
	}
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &timeouter{next: next, d: d}
	}, nil
}

type timeouter struct {
	next courier.MessageHandler
	d    time.Duration
}

var timeoutCtxPool = sync.Pool{New: func() any { return new(timeoutCtx) }}

func (t *timeouter) HandleMessage(ctx context.Context, msg courier.Message) error {
	deadline := time.Now().Add(t.d)
	if pd, ok := ctx.Deadline(); ok && !pd.After(deadline) {
		return t.next.HandleMessage(ctx, msg) // the caller's deadline comes first anyway
	}
	c := timeoutCtxPool.Get().(*timeoutCtx)
	c.start(ctx, deadline)
	defer func() { // deferred so that a panicking handler still releases its context
		c.release()
		timeoutCtxPool.Put(c)
	}()
	return t.next.HandleMessage(c, msg)
}

// closed is the Done channel of a context that ended before anyone asked for its channel.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// timeoutCtx is a context.Context with a deadline that is reused from call to call. It makes
// nothing until it must: Err compares the clock with the deadline and asks the parent, and
// only a call to Done (or a Value lookup once the context has ended, for context.Cause) makes
// the context.WithDeadline that a handler waiting on its context needs.
type timeoutCtx struct {
	mu       sync.Mutex
	parent   context.Context
	deadline time.Time
	err      error              // set once the context is known to have ended; sticky
	real     context.Context    // context.WithDeadline(parent, deadline), once needed
	cancel   context.CancelFunc // real's
}

// start begins a use. No lock: the context comes fresh from the pool and nothing else holds
// it yet (sync.Pool orders a Put before the Get that returns the same item).
func (c *timeoutCtx) start(parent context.Context, deadline time.Time) {
	c.parent, c.deadline, c.err = parent, deadline, nil
}

// release ends the use: from now on the context reports context.Canceled, unless it had
// already ended, and a Done channel handed out is closed.
func (c *timeoutCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.real != nil {
		c.err = c.real.Err()
	}
	if c.err == nil {
		c.err = context.Canceled
	}
	if c.cancel != nil {
		c.cancel()
		c.real, c.cancel = nil, nil
	}
}

// check records in err whether the context has ended; mu is held.
func (c *timeoutCtx) check() {
	switch {
	case c.err != nil:
	case c.real != nil:
		c.err = c.real.Err()
	case !time.Now().Before(c.deadline):
		c.err = context.DeadlineExceeded
	default:
		c.err = c.parent.Err()
	}
}

// makeReal makes real, unless the use has ended; mu is held.
func (c *timeoutCtx) makeReal() {
	if c.real == nil && c.err == nil {
		c.real, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
}

func (c *timeoutCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

func (c *timeoutCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.makeReal()
	if c.real == nil {
		return closed
	}
	return c.real.Done()
}

func (c *timeoutCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	return c.err
}

// Value looks key up in real when there is one, so that context.Cause and contexts derived
// from this one find real's cancellation, and in the parent otherwise.
func (c *timeoutCtx) Value(key any) any {
	c.mu.Lock()
	if c.real == nil && c.err == nil {
		if c.check(); c.err != nil {
			c.err = nil // the deadline passed or the parent ended: let real say so
			c.makeReal()
		}
	}
	v := c.parent
	if c.real != nil {
		v = c.real
	}
	c.mu.Unlock()
	return v.Value(key)
}

func (c *timeoutCtx) String() string { return "middleware.Timeout context" }
