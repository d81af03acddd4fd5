package cqrs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/eventsource"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNilHandler is returned when a handler given for registration is nil.
	ErrNilHandler = errors.New("cqrs: nil handler")
	// ErrDuplicateHandler is returned when a type already has a handler on a bus, processor
	// or projection.
	ErrDuplicateHandler = errors.New("cqrs: duplicate handler")
	// ErrNoHandler is returned for a command, query or event type nobody registered.
	ErrNoHandler = errors.New("cqrs: no handler registered")
	// ErrDecode is wrapped by errors for a message or event whose payload cannot be decoded
	// into its registered type, or that does not say its type. Redelivery will not fix it:
	// pair the consumer with dlq.DeadLetter (MaxAttempts) so it ends in a dead-letter topic.
	ErrDecode = errors.New("cqrs: cannot decode")
	// ErrCheckpointMoved is returned by a Store's Apply when the stored checkpoint is not the
	// one the caller read: another runner, or a Rebuild, moved it. Nothing was applied.
	ErrCheckpointMoved = errors.New("cqrs: checkpoint moved")
)

// Headers that carry a command's or event's type and an event's version on a broker.
const (
	// HeaderType carries the type name of the command or event in the message value. An
	// event processor also reads the headers of eventsource's outbox relay
	// (eventsource.HeaderEventType and HeaderEventVersion), so it consumes relayed events.
	HeaderType = "cqrs-type"
	// HeaderVersion carries an event's version in its stream, when the sender knows it.
	HeaderVersion = "cqrs-version"
)

// Named lets a command or event type choose the name it travels under. Without it
// the name is the Go type's name, without its package ("OrderPlaced" for
// orders.OrderPlaced or *orders.OrderPlaced).
type Named interface {
	TypeName() string
}

// Keyed is implemented by commands and events that belong to an aggregate: AggregateID
// becomes the message key, so that the commands (or events) of one aggregate are handled in
// the order they were sent. Without it a message has no key and no order.
type Keyed interface {
	AggregateID() string
}

// TypeName returns the name values of type T travel under (see Named), or an error for a
// type without a name (an unnamed struct, a map...). Names are worked out once per type.
func TypeName[T any]() (string, error) {
	t := reflect.TypeFor[T]()
	if name, ok := typeNames.Load(t); ok {
		return name.(string), nil
	}
	base := t
	for base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	name := base.Name()
	if n, ok := reflect.New(base).Interface().(Named); ok { // a pointer has the value's methods too
		if name = n.TypeName(); name == "" {
			return "", fmt.Errorf("cqrs: type %s: TypeName returned an empty name", t)
		}
	}
	if name == "" {
		return "", fmt.Errorf("cqrs: type %s has no name: declare a named type or implement cqrs.Named", t)
	}
	typeNames.Store(t, name)
	return name, nil
}

var typeNames sync.Map // reflect.Type -> string

// Marshaler turns commands and events into bytes and back. It must be safe for concurrent
// use.
type Marshaler interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Marshaler: encoding/json.
type JSON struct{}

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON data into v.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Event is an event as it reaches a handler: the typed payload's envelope. Events from a
// Source fill every field; events from a broker carry the message's ID, its key as Stream,
// its timestamp as Time and its headers as Metadata, and Version when HeaderVersion is set.
type Event struct {
	ID       string
	Stream   string
	Type     string
	Version  int64
	Position string // the event's place in its Source; "" for events from a broker
	Data     []byte
	Metadata map[string]string
	Time     time.Time
}

// eventFromMessage is the envelope of a message consumed from a broker.
func eventFromMessage(m courier.Message) (Event, error) {
	typeHeader, versionHeader := HeaderType, HeaderVersion
	if _, ok := m.Headers[HeaderType]; !ok {
		// An event the event store's outbox relay published: its headers name type and version.
		typeHeader, versionHeader = eventsource.HeaderEventType, eventsource.HeaderEventVersion
	}
	ev := Event{ID: m.ID, Stream: m.Key, Type: m.Headers[typeHeader], Data: m.Value, Metadata: m.Headers, Time: m.Timestamp}
	if ev.Type == "" {
		return ev, fmt.Errorf("%w: message %s on %q has neither a %s nor an %s header", ErrDecode, m.ID, m.Topic, HeaderType, eventsource.HeaderEventType)
	}
	if len(m.Headers) == 1 { // the type alone, as the buses send
		return ev, nil
	}
	if v, ok := m.Headers[versionHeader]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return ev, fmt.Errorf("%w: message %s on %q: %s header %q is not a number", ErrDecode, m.ID, m.Topic, versionHeader, v)
		}
		ev.Version = n
	}
	return ev, nil
}

// handlerTable maps type names to handlers that decode an Event's payload and call the typed
// handler with an argument of type A (a projection's transaction; nothing for processors).
type handlerTable[A any] struct {
	what string // "command bus", "event processor \"billing\""... for errors
	mu   sync.RWMutex
	m    map[string]func(ctx context.Context, a A, ev Event) error
}

func (t *handlerTable[A]) add(name string, h func(ctx context.Context, a A, ev Event) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.m[name]; dup {
		return fmt.Errorf("%w: %s already has a handler for %q", ErrDuplicateHandler, t.what, name)
	}
	if t.m == nil {
		t.m = make(map[string]func(context.Context, A, Event) error)
	}
	t.m[name] = h
	return nil
}

func (t *handlerTable[A]) get(name string) func(ctx context.Context, a A, ev Event) error {
	t.mu.RLock()
	h := t.m[name]
	t.mu.RUnlock()
	return h
}

// types returns the registered type names.
func (t *handlerTable[A]) types() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Sorted(maps.Keys(t.m))
}

// register adds a typed handler for T to t: the entry decodes the payload with m.
func register[T, A any](t *handlerTable[A], m Marshaler, h func(ctx context.Context, a A, v T, ev Event) error) error {
	name, err := TypeName[T]()
	if err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("%w: %s: handler for %q", ErrNilHandler, t.what, name)
	}
	return t.add(name, func(ctx context.Context, a A, ev Event) error {
		var v T
		if err := m.Unmarshal(ev.Data, &v); err != nil {
			return fmt.Errorf("%w: %s %s (id %s, stream %q): %w", ErrDecode, t.what, ev.Type, ev.ID, ev.Stream, err)
		}
		return h(ctx, a, v, ev)
	})
}

// publisher sends typed values to a broker topic: the shared sending side of the command and
// event buses.
type publisher struct {
	p     courier.Producer
	topic func(typeName string) string
	m     Marshaler
}

func (pb *publisher) send(ctx context.Context, name string, v any, headers map[string]string) error {
	data, err := pb.m.Marshal(v)
	if err != nil {
		return fmt.Errorf("cqrs: marshal %s: %w", name, err)
	}
	// A map of its own for each message: producer middleware (tracing) may add to it.
	msg := courier.Message{Topic: pb.topic(name), Value: data, Headers: make(map[string]string, 1+len(headers))}
	msg.Headers[HeaderType] = name
	maps.Copy(msg.Headers, headers)
	if k, ok := v.(Keyed); ok {
		msg.Key = k.AggregateID()
	}
	if err := pb.p.Send(ctx, msg); err != nil {
		return fmt.Errorf("cqrs: send %s to %q: %w", name, msg.Topic, err)
	}
	return nil
}
