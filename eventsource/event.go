package eventsource

import (
	"time"
)

// Event is one stored event.
type Event struct {
	ID       string            // unique in the store; the outbox relay sends it as courier.Message.ID
	Stream   string            // the stream it belongs to
	Type     string            // what happened, e.g. "AccountOpened"
	Version  int64             // its number in Stream: 1, 2, 3...
	Position Position          // its place in the store's global order
	Data     []byte            // payload, byte-exact
	Metadata map[string]string // correlation IDs and such; nil when none
	Time     time.Time         // when it was appended (the store's clock)
}

// EventData is an event to append: the store gives it its stream, version, position and time.
type EventData struct {
	ID       string // unique in the store; empty means a new UUIDv7. Set it to make retries safe.
	Type     string // required
	Data     []byte
	Metadata map[string]string
}

// Size is the number of bytes the event counts against a store's size limit: type, ID,
// data and metadata.
func (e EventData) Size() int {
	n := len(e.ID) + len(e.Type) + len(e.Data)
	for k, v := range e.Metadata {
		n += len(k) + len(v)
	}
	return n
}

// AppendResult says where an append put its events.
type AppendResult struct {
	Version  int64    // the stream's version after the append: the version of its last event
	Position Position // the position of its last event
}
