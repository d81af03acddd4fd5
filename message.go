package courier

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one message as it is sent and as it is delivered.
type Message struct {
	ID        string            // unique; Send fills a UUIDv7 when empty
	Topic     string            // Kafka topic, RabbitMQ exchange, Redis stream key, Pulsar topic
	Key       string            // ordering / partitioning key; "" means none
	Value     []byte            // payload, byte-exact; nil and empty are kept apart where the broker can
	Headers   map[string]string // portable metadata; keys starting with ReservedHeaderPrefix are refused
	Timestamp time.Time         // Send fills time.Now() when zero
	Attempt   int               // set on delivery: 1 the first time, 2 on the first redelivery...

	// Delivery details, set by consumers of brokers that have them; Send ignores them.
	Partition int32 // partition the message was read from (Kafka); 0 elsewhere
	Offset    int64 // position in its partition or log (Kafka, memory); 0 elsewhere
}

// ReservedHeaderPrefix starts the header keys that adapters use to carry courier's own fields
// (ID, timestamp...) on brokers without a native place for them. Messages whose headers use it
// are refused by Send, so a user header can never be confused with one of them.
const ReservedHeaderPrefix = "courier-"

// MaxHeaderKeyLen is the longest header key, in bytes, that every broker accepts (AMQP field
// names are short strings of at most 255 bytes).
const MaxHeaderKeyLen = 255

// Prepare returns msg ready to be sent: it fills an empty ID with NewID and a zero
// Timestamp with the current time (without its monotonic clock reading, so the value that
// comes back from a broker is Equal to the one sent), clears the delivery fields, and
// validates the result. Adapters call it first in Send; the error wraps ErrInvalidMessage.
func Prepare(msg Message) (Message, error) {
	if msg.Timestamp.IsZero() {
		msg.Timestamp = time.Now()
	}
	msg.Timestamp = msg.Timestamp.Round(0)
	if msg.ID == "" {
		msg.ID = NewID(msg.Timestamp)
	}
	msg.Attempt, msg.Partition, msg.Offset = 0, 0, 0
	return msg, Validate(msg)
}

// Validate reports what is wrong with msg, if anything, as an error wrapping
// ErrInvalidMessage: an empty topic, a topic or ID that is not valid UTF-8, or a header key that
// is empty, too long, reserved, or not valid UTF-8, or a header value that is not valid UTF-8.
func Validate(msg Message) error {
	if msg.Topic == "" {
		return fmt.Errorf("%w: empty topic", ErrInvalidMessage)
	}
	if !utf8.ValidString(msg.Topic) {
		return fmt.Errorf("%w: topic %q is not valid UTF-8", ErrInvalidMessage, msg.Topic)
	}
	if !utf8.ValidString(msg.ID) {
		return fmt.Errorf("%w: topic %q: ID %q is not valid UTF-8", ErrInvalidMessage, msg.Topic, msg.ID)
	}
	for k, v := range msg.Headers {
		if err := validateHeader(k, v); err != nil {
			return fmt.Errorf("%w: topic %q: %w", ErrInvalidMessage, msg.Topic, err)
		}
	}
	return nil
}

func validateHeader(k, v string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty header key")
	case len(k) > MaxHeaderKeyLen:
		return fmt.Errorf("header key %.32q... is %d bytes, longer than %d", k, len(k), MaxHeaderKeyLen)
	case !utf8.ValidString(k):
		return fmt.Errorf("header key %q is not valid UTF-8", k)
	case strings.HasPrefix(k, ReservedHeaderPrefix):
		return fmt.Errorf("header key %q uses the reserved prefix %q", k, ReservedHeaderPrefix)
	case !utf8.ValidString(v):
		return fmt.Errorf("header %q: value is not valid UTF-8", k)
	}
	return nil
}

// Size is the number of bytes msg occupies on the wire, counted the same way for every
// broker: value, key, ID, topic and headers. Brokers compare it with their size limit.
func (m Message) Size() int {
	n := len(m.Value) + len(m.Key) + len(m.ID) + len(m.Topic)
	for k, v := range m.Headers {
		n += len(k) + len(v)
	}
	return n
}
