package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/courier-go/courier/eventsource"
	"github.com/courier-go/courier/eventsource/aggregate"
	"github.com/jackc/pgx/v5"
)

// LoadCheckpoint implements eventsource.CheckpointStore on the schema's checkpoints table.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventsource.Position, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT position FROM `+s.schema+`.checkpoints WHERE name = $1`, name).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventsource.Position{}, nil
	}
	if err != nil {
		return eventsource.Position{}, fmt.Errorf("pgstore: load checkpoint %q: %w", name, err)
	}
	var pos eventsource.Position
	if err := pos.UnmarshalBinary(raw); err != nil {
		return eventsource.Position{}, fmt.Errorf("pgstore: load checkpoint %q: %w", name, err)
	}
	return pos, nil
}

// SaveCheckpoint implements eventsource.CheckpointStore.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos eventsource.Position) error {
	raw, _ := pos.MarshalBinary()
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.schema+`.checkpoints (name, position) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated = now()`, name, raw)
	if err != nil {
		return fmt.Errorf("pgstore: save checkpoint %q: %w", name, err)
	}
	return nil
}

// LoadSnapshot implements aggregate.SnapshotStore on the schema's snapshots table.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (aggregate.Snapshot, bool, error) {
	snap := aggregate.Snapshot{Stream: stream}
	err := s.pool.QueryRow(ctx, `SELECT version, schema, state FROM `+s.schema+`.snapshots WHERE stream = $1`, stream).
		Scan(&snap.Version, &snap.Schema, &snap.State)
	if errors.Is(err, pgx.ErrNoRows) {
		return aggregate.Snapshot{}, false, nil
	}
	if err != nil {
		return aggregate.Snapshot{}, false, fmt.Errorf("pgstore: load snapshot of stream %q: %w", stream, err)
	}
	return snap, true, nil
}

// SaveSnapshot implements aggregate.SnapshotStore: it keeps the later of two snapshots.
func (s *Store) SaveSnapshot(ctx context.Context, snap aggregate.Snapshot) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.schema+`.snapshots AS x (stream, version, schema, state) VALUES ($1, $2, $3, $4)
		ON CONFLICT (stream) DO UPDATE SET version = excluded.version, schema = excluded.schema, state = excluded.state
		WHERE x.version <= excluded.version`, snap.Stream, snap.Version, snap.Schema, snap.State)
	if err != nil {
		return fmt.Errorf("pgstore: save snapshot of stream %q: %w", snap.Stream, err)
	}
	return nil
}
