package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/courier-go/courier"
)

// PanicError is the error Recover returns for a handler that panicked.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the panicking goroutine's stack
}

// Error names the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("middleware: handler panicked: %v", e.Value) }

// Unwrap returns the panic value when it is an error, so errors.Is and errors.As see it.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Recover returns a middleware that turns a panic in the handler into a *PanicError, logged
// with its stack at Error level on logger (nil means slog.Default()) with the message's topic,
// ID and attempt, never its payload. The message then comes back as after any other error.
// It costs a deferred call per message and allocates only when a panic happens.
func Recover(logger *slog.Logger) courier.Middleware {
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &recoverer{next: next, logger: logger}
	}
}

type recoverer struct {
	next   courier.MessageHandler
	logger *slog.Logger
}

func (r *recoverer) HandleMessage(ctx context.Context, msg courier.Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{Value: v, Stack: debug.Stack()}
			logger := r.logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.ErrorContext(ctx, "middleware: handler panicked", "topic", msg.Topic, "id", msg.ID,
				"attempt", msg.Attempt, "panic", fmt.Sprint(v), "stack", string(pe.Stack))
			err = pe
		}
	}()
	return r.next.HandleMessage(ctx, msg)
}
