package courier

import "time"

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
// (ID, timestamp...) on brokers without a native place for them. Messages whose headers use it,
// in any letter case, are refused by Send, so a user header can never be confused with one of
// them.
const ReservedHeaderPrefix = "courier-"

// MaxHeaderKeyLen is the longest header key, in bytes, that every broker accepts (AMQP field
// names are short strings of at most 255 bytes).
const MaxHeaderKeyLen = 255

// Size is the number of bytes msg occupies on the wire, counted the same way for every
// broker: value, key, ID, topic and headers. Brokers compare it with their size limit.
func (m Message) Size() int {
	n := len(m.Value) + len(m.Key) + len(m.ID) + len(m.Topic)
	for k, v := range m.Headers {
		n += len(k) + len(v)
	}
	return n
}
