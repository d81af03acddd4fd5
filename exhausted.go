package courier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// ExhaustedFunc decides what becomes of a message whose last attempt failed (see
// ConsumerConfig.MaxAttempts and OnExhausted). err is always an *ExhaustedError.
//
//   - nil: the message has been dealt with (dead-lettered, dropped...) and is acknowledged.
//   - an error wrapping ErrStop: the consumer stops. The message is not acknowledged, so the
//     broker delivers it again to the group; Consume returns an error wrapping ErrStop.
//   - any other error: nothing is lost. The hook is called again for the same message after
//     the consumer's Backoff, and later messages of its key keep waiting.
//
// It runs on a handler's slot with the handler's context, which ends at Close's drain
// deadline; a hook still failing then leaves the message unacknowledged, to come back.
type ExhaustedFunc func(ctx context.Context, msg Message, err error) error

// ExhaustedError is what an ExhaustedFunc gets as its err: the handler's last error and the
// story of the message's failures. errors.Is and errors.As see Err through it.
type ExhaustedError struct {
	Err       error // the handler's last error
	Permanent bool  // Err was marked with Permanent
	Attempts  int   // the message's Attempt when it failed last
	// FirstAttempt and FirstFailure are the attempt and the time of the first failure this
	// consumer saw: when FirstAttempt is 1 that is the message's true first failure; when it
	// is higher, earlier attempts failed elsewhere (another consumer, a process that stopped).
	FirstAttempt int
	FirstFailure time.Time
	LastFailure  time.Time // when the handler failed last
}

// Error says after which attempt the message was given up on, why, and the handler's error.
func (e *ExhaustedError) Error() string {
	why := "attempts exhausted"
	if e.Permanent {
		why = "permanent error"
	}
	return fmt.Sprintf("courier: gave up after attempt %d (%s): %v", e.Attempts, why, e.Err)
}

// Unwrap returns Err.
func (e *ExhaustedError) Unwrap() error { return e.Err }

// ErrStop is wrapped by the error an ExhaustedFunc returns to stop the consumer (see
// StopConsumer), and by the error Consume then returns.
var ErrStop = errors.New("courier: consumer stopped by OnExhausted")

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix (a message that does not parse, say):
// the consumer calls OnExhausted at once instead of retrying. errors.Is and errors.As still
// see err through it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// DropExhausted returns an ExhaustedFunc that drops the message: it logs it at Error level on
// logger (nil means slog.Default(); never the payload), adds one to *dropped when dropped is
// not nil, and acknowledges it. It is the default OnExhausted.
func DropExhausted(logger *slog.Logger, dropped *atomic.Int64) ExhaustedFunc {
	if logger == nil {
		logger = slog.Default()
	}
	return func(_ context.Context, msg Message, err error) error {
		if dropped != nil {
			dropped.Add(1)
		}
		logger.Error("courier: message dropped: its last attempt failed", "topic", msg.Topic, "id", msg.ID,
			"attempt", msg.Attempt, "err", err)
		return nil
	}
}

// StopConsumer is an ExhaustedFunc that stops the consumer, leaving the message
// unacknowledged for the broker to deliver again: for a service that must not go past a
// message it cannot handle. Consume returns an error wrapping ErrStop and err.
func StopConsumer(_ context.Context, msg Message, err error) error {
	return fmt.Errorf("%w: message %s on %q: %w", ErrStop, msg.ID, msg.Topic, err)
}
