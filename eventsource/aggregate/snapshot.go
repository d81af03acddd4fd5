package aggregate

import (
	"context"
	"sync"
)

// Snapshot is an aggregate's state as of a version of its stream, encoded.
type Snapshot struct {
	Stream  string
	Version int64  // the version of the last event folded into State
	Schema  string // Config.SnapshotSchema when it was taken; others are ignored
	State   []byte
}

// SnapshotStore keeps the latest snapshot of each stream.
type SnapshotStore interface {
	// LoadSnapshot returns the stream's snapshot; ok is false when there is none.
	LoadSnapshot(ctx context.Context, stream string) (s Snapshot, ok bool, err error)
	// SaveSnapshot stores s, unless the stream already has a snapshot of a later version.
	SaveSnapshot(ctx context.Context, s Snapshot) error
}

// MemorySnapshots is a SnapshotStore in memory. The zero value is ready to use.
type MemorySnapshots struct {
	mu sync.Mutex
	m  map[string]Snapshot
}

// LoadSnapshot implements SnapshotStore.
func (m *MemorySnapshots) LoadSnapshot(_ context.Context, stream string) (Snapshot, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[stream]
	return s, ok, nil
}

// SaveSnapshot implements SnapshotStore.
func (m *MemorySnapshots) SaveSnapshot(_ context.Context, s Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]Snapshot{}
	}
	if old, ok := m.m[s.Stream]; !ok || old.Version <= s.Version {
		s.State = append([]byte(nil), s.State...)
		m.m[s.Stream] = s
	}
	return nil
}
