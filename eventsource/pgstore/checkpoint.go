package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/courier-go/courier/eventsource"
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
