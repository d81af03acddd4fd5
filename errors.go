package courier

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrClosed is returned by calls on a Producer, Consumer or Broker after Close.
	ErrClosed = errors.New("courier: closed")
	// ErrInvalidMessage is wrapped by errors for messages that cannot be sent as they are
	// (empty topic, bad header...). The wrapping error says what is wrong.
	ErrInvalidMessage = errors.New("courier: invalid message")
	// ErrMessageTooLarge is wrapped by errors for messages larger than the broker accepts.
	ErrMessageTooLarge = errors.New("courier: message too large")
	// ErrInvalidConfig is wrapped by Validate errors of configs and by Open for bad URLs.
	ErrInvalidConfig = errors.New("courier: invalid config")
	// ErrUnroutable is wrapped by Send errors for a message that no queue or subscription
	// would receive, on brokers that can tell (RabbitMQ with the mandatory flag).
	ErrUnroutable = errors.New("courier: unroutable message")
	// ErrAuthentication is wrapped by the errors of New and Open (and of later calls that
	// reconnect) when the broker refused the credentials: a wrong password or token, an
	// unknown user, or a user without access to the virtual host. Retrying does not help.
	ErrAuthentication = errors.New("courier: authentication failed")
)

// BatchError is returned by SendBatch when some messages were not sent. Errs has one entry
// per message given to SendBatch, in the same order: nil for a message that was sent.
type BatchError struct {
	Errs []error
}

// Failed returns the indexes of the messages that were not sent.
func (e *BatchError) Failed() []int {
	var idx []int
	for i, err := range e.Errs {
		if err != nil {
			idx = append(idx, i)
		}
	}
	return idx
}

func (e *BatchError) Error() string {
	failed := e.Failed()
	var b strings.Builder
	fmt.Fprintf(&b, "courier: %d of %d messages not sent", len(failed), len(e.Errs))
	for n, i := range failed {
		if n == 3 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; message %d: %v", i, e.Errs[i])
	}
	return b.String()
}

// Unwrap returns the errors of the messages that were not sent, for errors.Is and errors.As.
func (e *BatchError) Unwrap() []error {
	var errs []error
	for _, err := range e.Errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
