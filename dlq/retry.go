package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/courier-go/courier"
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: Retry gives up at once and DeadLetter dead-letters the
// message. errors.Is and errors.As still see err through it. Permanent(nil) is nil.
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

// RetryError is returned by Retry when it stops trying a message for good: the error was
// permanent, or the attempts ran out. It wraps the handler's last error.
type RetryError struct {
	Err          error     // the handler's last error
	Permanent    bool      // Err was marked permanent
	Attempts     int       // the attempt that failed last (the message's Attempt at that point)
	FirstAttempt int       // the attempt of the first failure this process saw
	FirstFailure time.Time // when that first failure happened
	LastFailure  time.Time // when the last one happened
}

// Error says after which attempt Retry gave up, why, and the handler's error.
func (e *RetryError) Error() string {
	why := "attempts exhausted"
	if e.Permanent {
		why = "permanent error"
	}
	return fmt.Sprintf("dlq: gave up after attempt %d (%s): %v", e.Attempts, why, e.Err)
}

// Unwrap returns Err.
func (e *RetryError) Unwrap() error { return e.Err }

// DefaultMaxAttempts is RetryConfig.MaxAttempts when it is 0.
const DefaultMaxAttempts = 5

// RetryConfig configures Retry. The zero value selects the defaults.
type RetryConfig struct {
	// MaxAttempts is the number of attempts, counted across deliveries with the message's
	// Attempt, after which Retry gives up; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the delay between attempts in this process; its Max is the longest delay.
	// The zero value means courier.DefaultBackoff.
	Backoff courier.Backoff
	// Logger receives a line per failed attempt (never the payload); nil means slog.Default().
	Logger *slog.Logger
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c RetryConfig) Validate() error {
	var problems []string
	if c.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("negative MaxAttempts %d", c.MaxAttempts))
	}
	if err := c.Backoff.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: dlq retry config: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// Retry returns a middleware that retries failed messages as cfg says (see the package
// documentation). It returns the handler's error unchanged, without giving up, when the
// handler's context ends: the message then comes back from the broker.
func Retry(cfg RetryConfig) (courier.Middleware, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(next courier.MessageHandler) courier.MessageHandler {
		return &retrier{next: next, cfg: cfg}
	}, nil
}

type retrier struct {
	next courier.MessageHandler
	cfg  RetryConfig
}

func (r *retrier) HandleMessage(ctx context.Context, msg courier.Message) error {
	attempt := max(msg.Attempt, 1) // a message handed over by hand may have no Attempt
	firstAttempt := attempt
	var firstFailure time.Time
	for {
		msg.Attempt = attempt
		err := r.next.HandleMessage(ctx, msg)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil { // stopped, not the message's fault: let the broker bring it back
			return err
		}
		now := time.Now()
		if firstFailure.IsZero() {
			firstFailure = now
		}
		if perm := IsPermanent(err); perm || attempt >= r.cfg.MaxAttempts {
			return &RetryError{Err: err, Permanent: perm, Attempts: attempt, FirstAttempt: firstAttempt,
				FirstFailure: firstFailure, LastFailure: now}
		}
		delay := r.cfg.Backoff.Delay(attempt)
		r.cfg.Logger.Warn("dlq: handler failed; retrying", "topic", msg.Topic, "id", msg.ID,
			"attempt", attempt, "max_attempts", r.cfg.MaxAttempts, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dlq: retries of message %s on %q stopped after attempt %d: %w", msg.ID, msg.Topic, attempt, err)
		}
		attempt++
	}
}
