// Package lifecycle is the Consume/Close state machine that every adapter's consumer shares:
// one Consume at a time, Close ends a running Consume and waits for it to return, and a closed
// consumer answers courier.ErrClosed.
package driver

import (
	"context"
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

// Start begins a Consume call with handler h. It returns the context the call must run under
// (it ends with ctx or with Close), finish, which the call must defer, and how many Consume
// calls have started so far, this one included. It refuses a nil handler, a closed consumer
// (courier.ErrClosed) and a second Consume while one runs.
func (g *Guard) Start(ctx context.Context, h courier.MessageHandler) (run context.Context, finish func(), runs int, err error) {
	if h == nil {
		return nil, nil, 0, fmt.Errorf("%w: %s: Consume needs a handler", courier.ErrInvalidConfig, g.Name)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closed:
		return nil, nil, 0, courier.ErrClosed
	case g.running:
		return nil, nil, 0, fmt.Errorf("%s: Consume is already running on this consumer", g.Name)
	}
	run, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	g.running, g.stop, g.stopped = true, cancel, stopped
	g.runs++
	return run, func() {
		cancel()
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
