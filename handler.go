package courier

import (
	"context"
	"errors"
)

// MessageHandler handles delivered messages. Returning nil acknowledges the message; an
// error makes it come back later with Attempt+1.
type MessageHandler interface {
	HandleMessage(ctx context.Context, msg Message) error
}

// HandlerFunc adapts a function to a MessageHandler.
type HandlerFunc func(ctx context.Context, msg Message) error

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, msg Message) error { return f(ctx, msg) }

// BatchHandler is a MessageHandler that also handles many messages in one call, for bulk
// writes. Given to Consume by a consumer whose ConsumerConfig.BatchSize is above 1, it gets
// up to BatchSize messages a call, as many as are ready (a batch never waits to fill up),
// whatever the Concurrency; the rest of the contract holds:
//   - Messages of one key never share a batch: the next message of a key is handed out only
//     once the one before it is settled, so per-key order holds as with HandleMessage.
//   - HandleBatch returning nil acknowledges every message of the batch. A *BatchError with
//     one error per message (nil for those that succeeded) acknowledges the others and
//     retries the failed ones alone, each through HandleMessage after the backoff, with
//     Attempt counting on (and MaxAttempts, OnExhausted and Permanent as usual). Any other
//     error retries every message of the batch alone in the same way.
//   - A retried message, and a batch of one, go to HandleMessage.
//   - The batch runs under the consumer's context (not a partition's), and msgs belongs to
//     the consumer once HandleBatch returns: copy what you keep.
type BatchHandler interface {
	MessageHandler
	HandleBatch(ctx context.Context, msgs []Message) error
}

// BatchHandlerFunc adapts a function to a BatchHandler; its HandleMessage calls the function
// with a batch of one (and unwraps a one-message *BatchError).
type BatchHandlerFunc func(ctx context.Context, msgs []Message) error

// HandleBatch calls f.
func (f BatchHandlerFunc) HandleBatch(ctx context.Context, msgs []Message) error { return f(ctx, msgs) }

// HandleMessage calls f with msg alone.
func (f BatchHandlerFunc) HandleMessage(ctx context.Context, msg Message) error {
	err := f(ctx, []Message{msg})
	if be := (*BatchError)(nil); errors.As(err, &be) && len(be.Errs) == 1 {
		return be.Errs[0]
	}
	return err
}

// Middleware wraps a handler with behaviour of its own (retries, timeouts, metrics...).
type Middleware func(MessageHandler) MessageHandler

// Chain wraps h in the middleware m, the first of m outermost: Chain(h, a, b) handles a message
// with a(b(h)).
func Chain(h MessageHandler, m ...Middleware) MessageHandler {
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	return h
}
