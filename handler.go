package courier

import "context"

// MessageHandler handles delivered messages. Returning nil acknowledges the message; an
// error makes it come back later with Attempt+1.
type MessageHandler interface {
	HandleMessage(ctx context.Context, msg Message) error
}

// HandlerFunc adapts a function to a MessageHandler.
type HandlerFunc func(ctx context.Context, msg Message) error

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, msg Message) error { return f(ctx, msg) }

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
