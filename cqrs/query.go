package cqrs

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/courier-go/courier"
)

// QueryBus answers typed queries in process: one handler per query type, registered with
// HandleQuery and asked with Ask. It is safe for concurrent use; the zero value is ready.
type QueryBus struct {
	mu sync.RWMutex
	m  map[reflect.Type]queryEntry
}

type queryEntry struct {
	h      any // func(context.Context, Q) (R, error)
	result reflect.Type
}

// HandleQuery registers h as the handler of queries of type Q, answered with an R. A second
// handler for Q fails with ErrDuplicateHandler, a nil h with ErrNilHandler.
func HandleQuery[Q, R any](b *QueryBus, h func(ctx context.Context, q Q) (R, error)) error {
	qt := reflect.TypeFor[Q]()
	if b == nil {
		return fmt.Errorf("%w: HandleQuery on a nil QueryBus", courier.ErrInvalidConfig)
	}
	if h == nil {
		return fmt.Errorf("%w: query bus: handler for %s", ErrNilHandler, qt)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.m[qt]; dup {
		return fmt.Errorf("%w: query bus already has a handler for %s", ErrDuplicateHandler, qt)
	}
	if b.m == nil {
		b.m = make(map[reflect.Type]queryEntry)
	}
	b.m[qt] = queryEntry{h: h, result: reflect.TypeFor[R]()}
	return nil
}

// Ask runs the handler of q's type and returns its answer. It fails with ErrNoHandler if Q
// has no handler, and with courier.ErrInvalidConfig if Q's handler answers with another
// type than R.
func Ask[R, Q any](ctx context.Context, b *QueryBus, q Q) (R, error) {
	var zero R
	qt := reflect.TypeFor[Q]()
	if b == nil {
		return zero, fmt.Errorf("%w: Ask on a nil QueryBus", courier.ErrInvalidConfig)
	}
	b.mu.RLock()
	e, ok := b.m[qt]
	b.mu.RUnlock()
	if !ok {
		return zero, fmt.Errorf("%w: query bus: query %s", ErrNoHandler, qt)
	}
	h, ok := e.h.(func(context.Context, Q) (R, error))
	if !ok {
		return zero, fmt.Errorf("%w: query bus: query %s is answered with %s, not %s", courier.ErrInvalidConfig, qt, e.result, reflect.TypeFor[R]())
	}
	return h(ctx, q)
}
