package eventsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
)

// Codec turns event values into bytes and back. JSONCodec is the default.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSONCodec is the Codec of encoding/json.
type JSONCodec struct{}

// Marshal implements Codec.
func (JSONCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements Codec.
func (JSONCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// UnknownPolicy says what Decode does with an event whose type is not registered.
type UnknownPolicy int

// The unknown-type policies.
const (
	// UnknownFail makes Decode return an *UnknownTypeError naming stream, version and type.
	UnknownFail UnknownPolicy = iota
	// UnknownSkip makes Decode return ErrSkipped (callers pass over the event) and count it
	// in Registry.Skipped.
	UnknownSkip
)

var (
	// ErrUnknownEventType is matched by every *UnknownTypeError.
	ErrUnknownEventType = errors.New("eventsource: unknown event type")
	// ErrSkipped is returned by Decode for an event that the UnknownSkip policy passes over.
	ErrSkipped = errors.New("eventsource: event skipped")
)

// UnknownTypeError is the error of decoding an event whose type is not registered.
type UnknownTypeError struct {
	Stream  string
	Version int64
	Type    string
	ID      string
}

func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("eventsource: stream %q version %d (event %q): event type %q is not registered", e.Stream, e.Version, e.ID, e.Type)
}

// Is makes errors.Is(err, ErrUnknownEventType) true.
func (e *UnknownTypeError) Is(target error) bool { return target == ErrUnknownEventType }

// Upcaster rewrites a stored event of an old shape into a newer one before it is decoded:
// it may change Type and Data (and Metadata). See Registry.Upcast.
type Upcaster func(Event) (Event, error)

// maxUpcasts bounds a chain of upcasters, so that a cycle is an error, not a hang.
const maxUpcasts = 32

// Registry maps event type names to Go types, for Encode and Decode. Create it with
// NewRegistry and register the types with Register before use; it is then safe for
// concurrent use.
type Registry struct {
	codec   Codec
	unknown UnknownPolicy

	mu        sync.RWMutex
	byName    map[string]reflect.Type
	byType    map[reflect.Type]string
	upcasters map[string]Upcaster
	skipped   atomic.Int64
}

// RegistryConfig configures a Registry. The zero value uses JSON and fails on unknown types.
type RegistryConfig struct {
	Codec   Codec // nil means JSONCodec
	Unknown UnknownPolicy
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if cfg.Unknown != UnknownFail && cfg.Unknown != UnknownSkip {
		return nil, fmt.Errorf("eventsource: registry: unknown UnknownPolicy %d", cfg.Unknown)
	}
	if cfg.Codec == nil {
		cfg.Codec = JSONCodec{}
	}
	return &Registry{codec: cfg.Codec, unknown: cfg.Unknown,
		byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}, upcasters: map[string]Upcaster{}}, nil
}

// Register adds the Go type T under the event type name. Decode returns values of type T
// (not pointers). A name or a type registered twice is an error.
func Register[T any](r *Registry, name string) error {
	t := reflect.TypeFor[T]()
	if name == "" {
		return fmt.Errorf("eventsource: register %v: empty type name", t)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, dup := r.byName[name]; dup {
		return fmt.Errorf("eventsource: event type %q is already registered (as %v)", name, old)
	}
	if old, dup := r.byType[t]; dup {
		return fmt.Errorf("eventsource: Go type %v is already registered (as %q)", t, old)
	}
	if _, up := r.upcasters[name]; up {
		return fmt.Errorf("eventsource: event type %q has an upcaster: it names an old shape, not a current type", name)
	}
	r.byName[name] = t
	r.byType[t] = name
	return nil
}

// Upcast registers fn for stored events of type from: Decode runs it before decoding such
// an event, and again on its result while that has an upcaster too (a chain, V1 -> V2 ->
// V3). from must not be a registered type.
func (r *Registry) Upcast(from string, fn Upcaster) error {
	if from == "" || fn == nil {
		return fmt.Errorf("eventsource: upcast %q: empty type name or nil function", from)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, reg := r.byName[from]; reg {
		return fmt.Errorf("eventsource: upcast %q: the type is registered; upcast from old type names only", from)
	}
	if _, dup := r.upcasters[from]; dup {
		return fmt.Errorf("eventsource: upcast %q: registered twice", from)
	}
	r.upcasters[from] = fn
	return nil
}

// Encode returns v as an event to append: its registered type name and its encoding.
// v may be a value of a registered type or a pointer to one.
func (r *Registry) Encode(v any) (EventData, error) {
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		if reflect.ValueOf(v).IsNil() {
			return EventData{}, fmt.Errorf("eventsource: encode: nil %v", t)
		}
		t = t.Elem()
		v = reflect.ValueOf(v).Elem().Interface()
	}
	r.mu.RLock()
	name, ok := r.byType[t]
	r.mu.RUnlock()
	if !ok {
		return EventData{}, fmt.Errorf("%w: encode: Go type %v is not registered", ErrUnknownEventType, t)
	}
	data, err := r.codec.Marshal(v)
	if err != nil {
		return EventData{}, fmt.Errorf("eventsource: encode %q: %w", name, err)
	}
	return EventData{Type: name, Data: data}, nil
}

// Decode returns the value of a stored event, after its upcasters. For a type that is not
// registered it returns an *UnknownTypeError, or ErrSkipped under UnknownSkip. Errors name
// the stream, version and type.
func (r *Registry) Decode(e Event) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for n := 0; ; n++ {
		up, ok := r.upcasters[e.Type]
		if !ok {
			break
		}
		if n == maxUpcasts {
			return nil, fmt.Errorf("eventsource: stream %q version %d: more than %d upcasts from type %q (a cycle?)", e.Stream, e.Version, maxUpcasts, e.Type)
		}
		from := e.Type
		var err error
		if e, err = up(e); err != nil {
			return nil, fmt.Errorf("eventsource: stream %q version %d: upcast from type %q: %w", e.Stream, e.Version, from, err)
		}
	}
	t, ok := r.byName[e.Type]
	if !ok {
		if r.unknown == UnknownSkip {
			r.skipped.Add(1)
			return nil, ErrSkipped
		}
		return nil, &UnknownTypeError{Stream: e.Stream, Version: e.Version, Type: e.Type, ID: e.ID}
	}
	p := reflect.New(t)
	if err := r.codec.Unmarshal(e.Data, p.Interface()); err != nil {
		return nil, fmt.Errorf("eventsource: stream %q version %d: decode type %q: %w", e.Stream, e.Version, e.Type, err)
	}
	return p.Elem().Interface(), nil
}

// Skipped returns how many events Decode has passed over under UnknownSkip.
func (r *Registry) Skipped() int64 { return r.skipped.Load() }
