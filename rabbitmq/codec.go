package rabbitmq

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/courier-go/courier"
	amqp "github.com/rabbitmq/amqp091-go"
)

// courier's own fields travel in headers under the reserved prefix, which user headers cannot
// use (courier.Validate refuses them).
const (
	// headerTimestamp holds Message.Timestamp in Unix nanoseconds: the AMQP timestamp
	// property has whole seconds only. Its presence marks a message sent by courier.
	headerTimestamp = courier.ReservedHeaderPrefix + "ts"
	// headerKey holds Message.Key, so it survives a dead-letter exchange rewriting the
	// routing key. Absent for an empty key.
	headerKey = courier.ReservedHeaderPrefix + "key"
	// headerNil marks a nil Value: an AMQP body cannot tell nil from empty.
	headerNil = courier.ReservedHeaderPrefix + "nil"
	// headerDeliveryCount is the quorum queue's count of earlier deliveries.
	headerDeliveryCount = "x-delivery-count"
)

// maxShortString is the longest AMQP short string (message ID, exchange, routing key).
const maxShortString = 255

// encode turns a prepared message into a publishing: ID to MessageId, Key to the routing key,
// Headers to the header table, Value to the body.
func encode(msg courier.Message, ttl time.Duration) amqp.Publishing {
	h := make(amqp.Table, len(msg.Headers)+3)
	for k, v := range msg.Headers {
		h[k] = v
	}
	h[headerTimestamp] = msg.Timestamp.UnixNano()
	if msg.Key != "" {
		h[headerKey] = msg.Key
	}
	if msg.Value == nil {
		h[headerNil] = true
	}
	p := amqp.Publishing{
		Headers:      h,
		DeliveryMode: amqp.Persistent,
		MessageId:    msg.ID,
		Timestamp:    msg.Timestamp,
		Body:         msg.Value,
	}
	if ttl > 0 {
		p.Expiration = strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)
	}
	return p
}

// checkWire reports what of msg AMQP cannot carry: short strings over 255 bytes.
func checkWire(msg courier.Message) error {
	switch {
	case len(msg.Topic) > maxShortString:
		return fmt.Errorf("%w: topic (exchange name) is %d bytes, AMQP allows %d", courier.ErrInvalidMessage, len(msg.Topic), maxShortString)
	case len(msg.Key) > maxShortString:
		return fmt.Errorf("%w: key (routing key) is %d bytes, AMQP allows %d", courier.ErrInvalidMessage, len(msg.Key), maxShortString)
	case len(msg.ID) > maxShortString:
		return fmt.Errorf("%w: ID is %d bytes, AMQP allows %d", courier.ErrInvalidMessage, len(msg.ID), maxShortString)
	case strings.HasPrefix(msg.Topic, "amq."):
		return fmt.Errorf("%w: topic %q: exchange names starting with amq. are reserved by RabbitMQ", courier.ErrInvalidMessage, msg.Topic)
	}
	return nil
}

// decode turns a delivery into a message. Messages from other publishers (no courier
// timestamp header) get the routing key as Key and the AMQP timestamp.
func decode(d *amqp.Delivery) courier.Message {
	msg := courier.Message{
		ID:      d.MessageId,
		Topic:   d.Exchange,
		Value:   d.Body,
		Attempt: 1,
	}
	_, ours := d.Headers[headerTimestamp]
	if !ours {
		msg.Key = d.RoutingKey
		msg.Timestamp = d.Timestamp
	}
	isNil := false
	for k, v := range d.Headers {
		switch {
		case k == headerTimestamp:
			if n, ok := asInt(v); ok {
				msg.Timestamp = time.Unix(0, n)
			}
		case k == headerKey:
			msg.Key, _ = v.(string)
		case k == headerNil:
			isNil, _ = v.(bool)
		case k == headerDeliveryCount:
			if n, ok := asInt(v); ok && n >= 0 {
				msg.Attempt = int(n) + 1
			}
		case brokerHeader(k):
		default:
			if msg.Headers == nil {
				msg.Headers = make(map[string]string, len(d.Headers))
			}
			if s, ok := v.(string); ok {
				msg.Headers[k] = s
			} else {
				msg.Headers[k] = fmt.Sprint(v)
			}
		}
	}
	if msg.Attempt == 1 && d.Redelivered {
		msg.Attempt = 2 // a classic queue says only that it delivered the message before
	}
	switch {
	case isNil && len(msg.Value) == 0:
		msg.Value = nil
	case msg.Value == nil:
		msg.Value = []byte{}
	}
	return msg
}

// brokerHeader reports whether k is a header RabbitMQ adds (dead-lettering history) or one of
// courier's own that this version does not know; neither is a user header.
func brokerHeader(k string) bool {
	return strings.HasPrefix(k, courier.ReservedHeaderPrefix) || k == "x-death" ||
		strings.HasPrefix(k, "x-first-death-") || strings.HasPrefix(k, "x-last-death-")
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case int:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	}
	return 0, false
}
