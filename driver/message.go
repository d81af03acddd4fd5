package driver

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/courier-go/courier"
)

// Prepare returns msg ready to be sent: it fills an empty ID with courier.NewID and a zero
// Timestamp with the current time (without its monotonic clock reading, so the value that
// comes back from a broker is Equal to the one sent), clears the delivery fields, and
// validates the result. Adapters call it first in Send; the error wraps
// courier.ErrInvalidMessage.
func Prepare(msg courier.Message) (courier.Message, error) {
	if msg.Timestamp.IsZero() {
		msg.Timestamp = time.Now()
	}
	msg.Timestamp = msg.Timestamp.Round(0)
	if msg.ID == "" {
		msg.ID = courier.NewID(msg.Timestamp)
	}
	msg.Attempt, msg.Partition, msg.Offset = 0, 0, 0
	return msg, Validate(msg)
}

// Validate reports what is wrong with msg, if anything, as an error wrapping
// courier.ErrInvalidMessage: an empty topic, a topic or ID that is not valid UTF-8, or a header
// key that
// is empty, too long, reserved, or not valid UTF-8, or a header value that is not valid
// UTF-8.
func Validate(msg courier.Message) error {
	if msg.Topic == "" {
		return fmt.Errorf("%w: empty topic", courier.ErrInvalidMessage)
	}
	if !utf8.ValidString(msg.Topic) {
		return fmt.Errorf("%w: topic %q is not valid UTF-8", courier.ErrInvalidMessage, msg.Topic)
	}
	if !utf8.ValidString(msg.ID) {
		return fmt.Errorf("%w: topic %q: ID %q is not valid UTF-8", courier.ErrInvalidMessage, msg.Topic, msg.ID)
	}
	for k, v := range msg.Headers {
		if err := ValidateHeader(k, v); err != nil {
			return fmt.Errorf("%w: topic %q: %w", courier.ErrInvalidMessage, msg.Topic, err)
		}
	}
	return nil
}

// ValidateHeader reports what is wrong with one header, if anything, as Validate checks it:
// a key that is empty, longer than courier.MaxHeaderKeyLen, not valid UTF-8 or reserved, or a
// value that is not valid UTF-8. Code that forwards messages it consumed (a dead-letter hook,
// a relay) uses it to find the headers Send would refuse.
func ValidateHeader(k, v string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty header key")
	case len(k) > courier.MaxHeaderKeyLen:
		return fmt.Errorf("header key %.32q... is %d bytes, longer than %d", k, len(k), courier.MaxHeaderKeyLen)
	case !utf8.ValidString(k):
		return fmt.Errorf("header key %q is not valid UTF-8", k)
	case Reserved(k):
		return fmt.Errorf("header key %q uses the reserved prefix %q", k, courier.ReservedHeaderPrefix)
	case !utf8.ValidString(v):
		return fmt.Errorf("header %q: value is not valid UTF-8", k)
	}
	return nil
}

// Reserved reports whether a header key starts with courier.ReservedHeaderPrefix in any letter
// case: such keys belong to courier's own encodings and Send refuses them from callers.
func Reserved(key string) bool {
	const p = courier.ReservedHeaderPrefix
	return len(key) >= len(p) && strings.EqualFold(key[:len(p)], p)
}

// NewBatchError returns a *courier.BatchError for errs (one per message), or nil when all are nil.
func NewBatchError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return &courier.BatchError{Errs: errs}
		}
	}
	return nil
}
