// Package ratelimit bounds the rate of handled and of sent messages with a token bucket,
// golang.org/x/time/rate. A message takes one token; a handler call or a send waits for its
// token as long as its context allows and no longer.
//
// A wait that ends with its context returns an error that errors.Is the context's error:
// context.Canceled, or context.DeadlineExceeded, also when rate reports, without waiting,
// that the token would come after the context's deadline (an error of rate's own that does
// not wrap DeadlineExceeded). A consumer's message whose wait ended this way is not
// acknowledged: it comes back, as after any handler error.
//
// A limiter may be shared by several consumers and producers of a process; it does not limit
// other processes. A handler call waiting for its token holds its message, as a slow handler
// would: the broker's limits on unacknowledged deliveries apply to the wait too.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/courier-go/courier"
	"golang.org/x/time/rate"
)

// Validate says what is wrong with l for this package, wrapping courier.ErrInvalidConfig: a
// nil limiter; a burst of 0 or less, with which every wait fails; a limit of 0 or less, with
// which the limiter runs dry for good after its burst.
func Validate(l *rate.Limiter) error {
	switch {
	case l == nil:
		return fmt.Errorf("%w: ratelimit: nil limiter", courier.ErrInvalidConfig)
	case l.Limit() == rate.Inf:
		return nil
	case l.Limit() <= 0:
		return fmt.Errorf("%w: ratelimit: limit %v events/s: must be > 0 (rate.Inf for no limit)", courier.ErrInvalidConfig, float64(l.Limit()))
	case l.Burst() <= 0:
		return fmt.Errorf("%w: ratelimit: burst %d: must be at least 1, or every wait fails", courier.ErrInvalidConfig, l.Burst())
	}
	return nil
}

// Middleware returns a middleware that waits for a token of l before each handler call. When
// the handler's context ends first, the handler is not called and the error says so (see the
// package documentation).
func Middleware(l *rate.Limiter) (courier.Middleware, error) {
	if err := Validate(l); err != nil {
		return nil, err
	}
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &handler{next: next, l: l}
	}, nil
}

type handler struct {
	next courier.MessageHandler
	l    *rate.Limiter
}

func (h *handler) HandleMessage(ctx context.Context, msg courier.Message) error {
	if err := wait(ctx, h.l, 1); err != nil {
		return fmt.Errorf("ratelimit: message %s on %q: %w", msg.ID, msg.Topic, err)
	}
	return h.next.HandleMessage(ctx, msg)
}

// Producer returns p with Send and SendBatch waiting for a token of l per message before they
// send. A batch larger than l's burst waits for it in bursts. Close closes p.
func Producer(p courier.Producer, l *rate.Limiter) (courier.Producer, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: ratelimit: nil producer", courier.ErrInvalidConfig)
	}
	if err := Validate(l); err != nil {
		return nil, err
	}
	return &producer{p: p, l: l}, nil
}

type producer struct {
	p courier.Producer
	l *rate.Limiter
}

func (p *producer) Send(ctx context.Context, msg courier.Message) error {
	if err := wait(ctx, p.l, 1); err != nil {
		return fmt.Errorf("ratelimit: send to %q: %w", msg.Topic, err)
	}
	return p.p.Send(ctx, msg)
}

func (p *producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	for left := len(msgs); left > 0; {
		n := left
		if b := p.l.Burst(); n > b && p.l.Limit() != rate.Inf {
			n = max(b, 1)
		}
		if err := wait(ctx, p.l, n); err != nil {
			return fmt.Errorf("ratelimit: send batch of %d: %w", len(msgs), err)
		}
		left -= n
	}
	return p.p.SendBatch(ctx, msgs)
}

func (p *producer) Close() error { return p.p.Close() }

// wait waits for n tokens of l, returning an error that errors.Is ctx's error when ctx ends
// the wait or rate refuses to start one that would outlast ctx's deadline.
func wait(ctx context.Context, l *rate.Limiter, n int) error {
	if l.AllowN(time.Now(), n) { // a token is there: no wait, nothing for ctx to end
		return nil
	}
	err := l.WaitN(ctx, n)
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w: %v", cerr, err)
	}
	if _, ok := ctx.Deadline(); ok && l.Burst() >= n {
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}
