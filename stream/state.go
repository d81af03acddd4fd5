package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// State is what a Store holds for one key: a value and its version. Version 0 means the key has
// no state (never written, or deleted); each applied update adds one.
type State struct {
	Value   []byte
	Version int64
}

// Update is a change to one key's state.
type Update struct {
	// ID names the input record the update comes from. The store remembers the IDs of a key's
	// recent updates and applies none twice. Required.
	ID string
	// Expect is the version the new value was computed from; the update applies only if the
	// key is still at that version (compare-and-set).
	Expect int64
	// Value is the new state.
	Value []byte
}

// Outcome says what Store.Apply did.
type Outcome int

const (
	// Applied: the key was at the expected version and the update's ID was new; the key now
	// holds the update's value at version Expect+1, and the ID is remembered, in one step.
	Applied Outcome = iota + 1
	// Duplicate: an update with the same ID was applied before; nothing changed.
	Duplicate
	// Conflict: the key is at another version than expected; nothing changed.
	Conflict
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// DefaultRemember is how many update IDs per key the stores remember by default: a redelivered
// input is recognised as long as fewer than that many other updates of its key came after it.
// With per-key ordered delivery a redelivery comes before any later message of its key, so
// even a few would do; brokers without that order (Redis Streams and RabbitMQ with several
// consumers) need room for the updates that can overtake a redelivery.
const DefaultRemember = 1000

// Store keeps keyed state for Aggregate and Window, in tables named by the pipeline and the
// stage. Implementations must make Apply atomic: check the ID, check the version, write the
// value and remember the ID in one step, even across processes sharing the store (package
// statetest checks it). This package has MemoryStore; stream/redisstate and stream/pgstate
// keep state in Redis and PostgreSQL.
type Store interface {
	// Get returns key's state in table (Version 0 when it has none).
	Get(ctx context.Context, table, key string) (State, error)
	// Apply applies u to key in table and returns the outcome and the key's state after it
	// (the current state for Duplicate and Conflict).
	Apply(ctx context.Context, table, key string, u Update) (Outcome, State, error)
	// Keys returns the keys of table that have state, in no particular order.
	Keys(ctx context.Context, table string) ([]string, error)
	// Delete removes key's state and remembered IDs from table; deleting a missing key is not
	// an error.
	Delete(ctx context.Context, table, key string) error
}

// ErrInvalidUpdate is wrapped by Apply errors for an update that cannot be applied as it is
// (empty ID, negative Expect).
var ErrInvalidUpdate = errors.New("stream: invalid state update")

// CheckUpdate says what is wrong with u for table and key, wrapping ErrInvalidUpdate; stores
// call it first in Apply.
func CheckUpdate(table, key string, u Update) error {
	switch {
	case table == "":
		return fmt.Errorf("%w: empty table", ErrInvalidUpdate)
	case u.ID == "":
		return fmt.Errorf("%w: table %q key %q: empty ID", ErrInvalidUpdate, table, key)
	case u.Expect < 0:
		return fmt.Errorf("%w: table %q key %q: negative Expect %d", ErrInvalidUpdate, table, key, u.Expect)
	}
	return nil
}

// MemoryStore is a Store in process memory: state lives as long as the value, shared by the
// pipelines (and consumers) that share it. For tests, examples, and state that may be rebuilt.
type MemoryStore struct {
	remember int

	mu     sync.Mutex
	tables map[string]map[string]*memEntry
}

type memEntry struct {
	state State
	ids   []string // the most recent update IDs, oldest first
}

// NewMemoryStore returns an empty MemoryStore that remembers the last remember update IDs of
// each key; 0 means DefaultRemember.
func NewMemoryStore(remember int) (*MemoryStore, error) {
	if remember < 0 {
		return nil, fmt.Errorf("stream: memory store: negative remember %d", remember)
	}
	if remember == 0 {
		remember = DefaultRemember
	}
	return &MemoryStore{remember: remember, tables: map[string]map[string]*memEntry{}}, nil
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, table, key string) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.tables[table][key]
	if e == nil {
		return State{}, nil
	}
	return State{Value: slices.Clone(e.state.Value), Version: e.state.Version}, nil
}

// Apply implements Store.
func (m *MemoryStore) Apply(ctx context.Context, table, key string, u Update) (Outcome, State, error) {
	if err := CheckUpdate(table, key, u); err != nil {
		return 0, State{}, err
	}
	if err := ctx.Err(); err != nil {
		return 0, State{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tables[table]
	if t == nil {
		t = map[string]*memEntry{}
		m.tables[table] = t
	}
	e := t[key]
	if e == nil {
		e = &memEntry{}
	}
	cur := State{Value: slices.Clone(e.state.Value), Version: e.state.Version}
	switch {
	case slices.Contains(e.ids, u.ID):
		return Duplicate, cur, nil
	case e.state.Version != u.Expect:
		return Conflict, cur, nil
	}
	e.state = State{Value: slices.Clone(u.Value), Version: u.Expect + 1}
	e.ids = append(e.ids, u.ID)
	if len(e.ids) > m.remember {
		e.ids = slices.Delete(e.ids, 0, len(e.ids)-m.remember)
	}
	t[key] = e
	return Applied, State{Value: slices.Clone(u.Value), Version: e.state.Version}, nil
}

// Keys implements Store.
func (m *MemoryStore) Keys(ctx context.Context, table string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.tables[table]))
	for k := range m.tables[table] {
		keys = append(keys, k)
	}
	return keys, nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(ctx context.Context, table, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tables[table], key)
	return nil
}
