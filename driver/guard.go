package driver

// The Consume/Close state machine that every adapter's consumer shares: one Consume at a
// time, Close ends a running Consume and waits for it to return, and a closed consumer
// answers courier.ErrClosed.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/courier-go/courier"
)

// Guard guards one consumer. Its zero value is ready; set Name (e.g. `kafka: group "g"`) so
// that its errors say which consumer they are about.
type Guard struct {
	Name string

	mu      sync.Mutex
	closed  bool
	running bool
	runs    int
	stop    context.CancelFunc // ends the running Consume
	stopped chan struct{}      // closed when the running Consume has returned
}

// stopKey is the key of the run context's value through which an Engine made under it stops
// the Consume run (see Engine.Err).
type stopKey struct{}

// Start begins a Consume call with handler h. It returns the context the call must run under
// (it ends with ctx, with Close, or when OnExhausted stops the consumer), finish, which the
// call must defer with the address of its named error result, and how many Consume calls
// have started so far, this one included:
//
//	func (c *consumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
//		ctx, finish, _, err := c.guard.Start(ctx, h)
//		if err != nil {
//			return err
//		}
//		defer finish(&err)
//		eng := driver.NewEngine(ctx, h, settler, cfg)
//		defer eng.Close()
//		...
//
// finish sets *err, when it is nil, to the error with which an engine made from run stopped
// the consumer (wrapping courier.ErrStop); it accepts a nil pointer. Start refuses a nil
// handler, a closed consumer (courier.ErrClosed) and a second Consume while one runs.
func (g *Guard) Start(ctx context.Context, h courier.MessageHandler) (run context.Context, finish func(err *error), runs int, err error) {
	if h == nil {
		return nil, nil, 0, fmt.Errorf("%s: Consume: %w: a handler is needed", g.Name, courier.ErrInvalidConfig)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closed:
		return nil, nil, 0, courier.ErrClosed
	case g.running:
		return nil, nil, 0, fmt.Errorf("%s: Consume is already running on this consumer", g.Name)
	}
	run, cancel := context.WithCancelCause(ctx)
	run = context.WithValue(run, stopKey{}, cancel)
	stopped := make(chan struct{})
	g.running, g.stop, g.stopped = true, func() { cancel(nil) }, stopped
	g.runs++
	return run, func(err *error) {
		if cause := context.Cause(run); err != nil && *err == nil && errors.Is(cause, courier.ErrStop) {
			*err = cause
		}
		cancel(nil)
		g.mu.Lock()
		g.running, g.stop, g.stopped = false, nil, nil
		g.mu.Unlock()
		close(stopped)
	}, g.runs, nil
}

// Close marks the consumer closed, ends a running Consume and waits for it to return. It
// reports true only the first time, when the caller must release the consumer's resources.
func (g *Guard) Close() bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.closed = true
	stopped := g.stopped
	if g.stop != nil {
		g.stop()
	}
	g.mu.Unlock()
	if stopped != nil {
		<-stopped
	}
	return true
}
