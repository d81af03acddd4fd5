package eventsource

import (
	"errors"
	"fmt"

	"github.com/courier-go/courier"
)

var (
	// ErrConcurrencyConflict is matched (errors.Is) by every *ConflictError.
	ErrConcurrencyConflict = errors.New("eventsource: concurrency conflict")
	// ErrInvalidEvent is wrapped by errors for appends that cannot be stored as they are:
	// an empty stream or type, no events, an ID given twice, a negative expected version.
	ErrInvalidEvent = errors.New("eventsource: invalid event")
	// ErrEventTooLarge is wrapped by errors for events larger than the store accepts.
	ErrEventTooLarge = errors.New("eventsource: event too large")
	// ErrDuplicateEventID is wrapped by the error of an append whose event ID is already
	// stored, other than as the safe retry described in the package documentation.
	ErrDuplicateEventID = errors.New("eventsource: duplicate event ID")
	// ErrClosed is returned by calls on a closed store. errors.Is(ErrClosed, courier.ErrClosed).
	ErrClosed = fmt.Errorf("eventsource: store closed: %w", courier.ErrClosed)
)

// ConflictError is the error of an append whose expected version the stream did not have.
type ConflictError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64 // the stream's version when the append was refused; 0: no events
	// Reason says why, when it is not the version itself (pgstore: the caller's transaction
	// started before the stream's last append committed).
	Reason string
}

func (e *ConflictError) Error() string {
	msg := fmt.Sprintf("eventsource: concurrency conflict on stream %q: expected version %v, actual %d",
		e.Stream, e.Expected, e.Actual)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes errors.Is(err, ErrConcurrencyConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConcurrencyConflict }
