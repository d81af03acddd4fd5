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
	// headerNil marks a nil Value: an AMQP body cannot tell nil from empty.
	headerNil = courier.ReservedHeaderPrefix + "nil"
	// headerDeliveryCount is the quorum queue's count of earlier deliveries.
	headerDeliveryCount = "x-delivery-count"
)

// maxShortString is the longest AMQP short string (message ID, exchange, routing key).
const maxShortString = 255

// encode turns a prepared message into a publishing: ID to MessageId, Key to the routing key,
// Headers to the header table, Value to the body. Key has no header of its own: every header
// costs the broker time on every publish, and the routing key it was published with stays
// known even when dead-lettering rewrites it (see decode).
func encode(msg courier.Message, ttl time.Duration) amqp.Publishing {
	p := amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		MessageId:    msg.ID,
		Timestamp:    msg.Timestamp,
		Body:         msg.Value,
	}
	h := make(amqp.Table, len(msg.Headers)+2)
	for k, v := range msg.Headers {
		if f := propertyField(&p, k); f != nil && len(v) <= maxShortString {
			*f = v
			continue
		}
		h[k] = v
	}
	h[headerTimestamp] = msg.Timestamp.UnixNano()
	if msg.Value == nil {
		h[headerNil] = true
	}
	p.Headers = h
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

// decode turns a delivery into a message. Key is the routing key the message was first
// published with. Messages from other publishers (no courier timestamp header) get the AMQP
// timestamp, in whole seconds, or the time they are received when they have none; and the
// AMQP message-id as ID, or a new one when they have none (see the package documentation).
func decode(d *amqp.Delivery) courier.Message {
	msg := courier.Message{
		ID:        d.MessageId,
		Topic:     d.Exchange,
		Key:       d.RoutingKey,
		Value:     d.Body,
		Timestamp: d.Timestamp,
		Attempt:   1,
	}
	isNil, sentByCourier := false, false
	for k, v := range d.Headers {
		switch {
		case k == headerTimestamp:
			if n, ok := asInt(v); ok {
				msg.Timestamp, sentByCourier = time.Unix(0, n), true
			}
		case k == "x-death":
			if key, ok := originalRoutingKey(v); ok {
				msg.Key = key
			}
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
			msg.Headers[k] = headerText(v)
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
	if !sentByCourier && (msg.Timestamp.IsZero() || msg.Timestamp.Unix() == 0) {
		msg.Timestamp = time.Now().Truncate(time.Millisecond) // received now, as far as anyone can tell
	}
	if msg.ID == "" {
		msg.ID = courier.NewID(msg.Timestamp)
	}
	decodeProperties(d, &msg)
	return msg
}

// originalRoutingKey reads the routing key a dead-lettered message was first published with
// from its x-death header: a list of deaths, the most recent first, each with the routing keys
// the message had when it died.
func originalRoutingKey(xDeath any) (string, bool) {
	deaths, ok := xDeath.([]any)
	if !ok || len(deaths) == 0 {
		return "", false
	}
	first, ok := deaths[len(deaths)-1].(amqp.Table)
	if !ok {
		return "", false
	}
	keys, ok := first["routing-keys"].([]any)
	if !ok || len(keys) == 0 {
		return "", false
	}
	key, ok := keys[0].(string)
	return key, ok
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
