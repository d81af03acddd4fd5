package cqrs

import (
	"context"
	"fmt"
	"sync"

	"github.com/courier-go/courier"
)

// MemoryStore is a Store that keeps read models of type S in memory: for tests, and for
// services whose read models are rebuilt at start. Handlers get a *S to change. Apply works
// on a copy made with the clone function and keeps it, with the checkpoint, only when every
// handler of the batch succeeded: so a failure half-way through a batch leaves no trace.
// Copying costs time in proportion to the state; keep BatchSize large for large states.
// Applies and Views take turns on one lock: a handler must not call View.
type MemoryStore[S any] struct {
	newState func() S
	clone    func(S) S

	mu     sync.Mutex
	models map[memKey]*memModel[S]

	beforeCommit func(projection string, m Model, to string) error // for tests: a crash before commit
	afterCommit  func()                                            // for tests: a change to wait for
}

type memKey struct {
	projection string
	model      Model
}

type memModel[S any] struct {
	state S
	pos   string
}

// NewMemoryStore returns an empty store. newState makes the empty read model; clone makes a
// deep copy of one.
func NewMemoryStore[S any](newState func() S, clone func(S) S) (*MemoryStore[S], error) {
	if newState == nil || clone == nil {
		return nil, fmt.Errorf("%w: cqrs memory store: newState and clone must not be nil", courier.ErrInvalidConfig)
	}
	return &MemoryStore[S]{newState: newState, clone: clone, models: make(map[memKey]*memModel[S])}, nil
}

// model returns the model, creating it empty; m.mu must be held.
func (m *MemoryStore[S]) model(projection string, model Model) *memModel[S] {
	k := memKey{projection, model}
	g := m.models[k]
	if g == nil {
		g = &memModel[S]{state: m.newState()}
		m.models[k] = g
	}
	return g
}

// Checkpoint returns the model's checkpoint.
func (m *MemoryStore[S]) Checkpoint(_ context.Context, projection string, model Model) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g := m.models[memKey{projection, model}]; g != nil {
		return g.pos, nil
	}
	return "", nil
}

// Apply runs fn on a copy of the model and keeps the copy, with checkpoint to, if fn
// succeeds and the checkpoint was still from. Applies are serialised.
func (m *MemoryStore[S]) Apply(ctx context.Context, projection string, model Model, from, to string, fn func(ctx context.Context, s *S) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.model(projection, model)
	if g.pos != from {
		return fmt.Errorf("%w: projection %q %s model is at %q, not %q", ErrCheckpointMoved, projection, model, g.pos, from)
	}
	next := m.clone(g.state)
	if err := fn(ctx, &next); err != nil {
		return err
	}
	if m.beforeCommit != nil {
		if err := m.beforeCommit(projection, model, to); err != nil {
			return err
		}
	}
	g.state, g.pos = next, to
	if m.afterCommit != nil {
		m.afterCommit()
	}
	return nil
}

// ResetShadow makes the Shadow model empty.
func (m *MemoryStore[S]) ResetShadow(_ context.Context, projection string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.models[memKey{projection, Shadow}] = &memModel[S]{state: m.newState()}
	return nil
}

// PromoteShadow makes the Shadow model the Live one.
func (m *MemoryStore[S]) PromoteShadow(_ context.Context, projection string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	sh := m.models[memKey{projection, Shadow}]
	if sh == nil {
		return fmt.Errorf("cqrs memory store: projection %q has no shadow model to promote", projection)
	}
	m.models[memKey{projection, Live}] = sh
	delete(m.models, memKey{projection, Shadow})
	if m.afterCommit != nil {
		m.afterCommit()
	}
	return nil
}

// View calls fn with the projection's Live model and its checkpoint, which stay unchanged
// while fn runs (an empty model before the first Apply). fn must not keep or change the
// state.
func (m *MemoryStore[S]) View(projection string, fn func(state S, position string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g := m.models[memKey{projection, Live}]; g != nil {
		fn(g.state, g.pos)
		return
	}
	fn(m.newState(), "")
}
