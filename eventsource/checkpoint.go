package eventsource

import (
	"context"
	"sync"
)

// CheckpointStore keeps the positions of named readers (subscriptions, outbox relays), so
// that they resume where they stopped. pgstore.Store is one; MemoryCheckpoints keeps them in
// memory.
type CheckpointStore interface {
	// LoadCheckpoint returns the position saved under name, or the zero Position if none.
	LoadCheckpoint(ctx context.Context, name string) (Position, error)
	// SaveCheckpoint saves pos under name.
	SaveCheckpoint(ctx context.Context, name string, pos Position) error
}

// MemoryCheckpoints is a CheckpointStore in memory, for tests and examples. The zero value is
// ready to use.
type MemoryCheckpoints struct {
	mu sync.Mutex
	m  map[string]Position
}

// LoadCheckpoint implements CheckpointStore.
func (c *MemoryCheckpoints) LoadCheckpoint(_ context.Context, name string) (Position, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name], nil
}

// SaveCheckpoint implements CheckpointStore.
func (c *MemoryCheckpoints) SaveCheckpoint(_ context.Context, name string, pos Position) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]Position{}
	}
	c.m[name] = pos
	return nil
}
