// Package pgprojection keeps cqrs projections' read models and checkpoints in PostgreSQL,
// with pgx.
//
// Each projection's read model lives in a schema of its own (ReadModel.Schema), whose tables
// ReadModel.Setup creates. Handlers get the pgx.Tx of the batch being applied, with
// search_path set to the model's schema, so they write unqualified table names; queries
// read "schema.table". The checkpoint is a row of the table checkpoints in Config.Schema,
// locked and updated in the same transaction as the handlers' writes: a batch and its
// checkpoint commit together or not at all, so an event is never applied twice, whatever
// fails in between.
//
// A Rebuild fills the schema "<Schema>_shadow", then, in one transaction, drops the live
// schema and renames the shadow to it: queries see the old model or the new one, never a
// half-built one. (They wait for the swap's brief exclusive lock.) Objects outside the schema
// that depend on its tables (views, foreign keys) are dropped with the old schema: keep
// everything a read model needs inside its schema.
//
// Several processes may run the same projection: the checkpoint row's lock makes their
// batches take turns, and a batch whose checkpoint was moved by another is rolled back and
// read again.
package pgprojection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs"
)

// DefaultSchema holds the checkpoint table when Config.Schema is empty.
const DefaultSchema = "cqrs"

// Config configures a Store.
type Config struct {
	// Schema holds the checkpoints table; "" means DefaultSchema. New creates both.
	Schema string
}

// ReadModel describes where a projection's read model lives.
type ReadModel struct {
	// Schema is the read model's schema, e.g. "orders_view"; required, at most 56 bytes so
	// that its shadow's name fits PostgreSQL's 63.
	Schema string
	// Setup creates the read model's tables in an empty schema; tx's search_path is that
	// schema. Required.
	Setup func(ctx context.Context, tx pgx.Tx) error
}

// Store is a cqrs.Store[pgx.Tx] on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	cp   string // quoted, qualified checkpoints table

	mu     sync.RWMutex
	models map[string]ReadModel

	beforeCommit func(ctx context.Context, tx pgx.Tx) error // for tests: a crash before commit
	afterCommit  func()                                     // for tests: a change to wait for
}

// inTx runs fn in a transaction and tells afterCommit (in tests) when it committed.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, fn)
	if err == nil && s.afterCommit != nil {
		s.afterCommit()
	}
	return err
}

var _ cqrs.Store[pgx.Tx] = (*Store)(nil)

// New returns a Store on pool, creating its schema and checkpoints table if missing.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: pgprojection: nil pool", courier.ErrInvalidConfig)
	}
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	schema := pgx.Identifier{cfg.Schema}.Sanitize()
	s := &Store{pool: pool, cp: schema + ".checkpoints", models: make(map[string]ReadModel)}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog: take turns.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('courier-cqrs-pgprojection'))`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema+`;
			CREATE TABLE IF NOT EXISTS `+s.cp+` (
				projection text NOT NULL,
				model text NOT NULL,
				position text NOT NULL,
				updated_at timestamptz NOT NULL DEFAULT now(),
				PRIMARY KEY (projection, model))`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgprojection: create checkpoints table %s: %w", s.cp, err)
	}
	return s, nil
}

// Define declares projection's read model and creates its schema with Setup if it does not
// exist yet. Call it once per projection before running it.
func (s *Store) Define(ctx context.Context, projection string, rm ReadModel) error {
	var problems []string
	if projection == "" {
		problems = append(problems, "empty projection name")
	}
	if rm.Schema == "" {
		problems = append(problems, "empty Schema")
	} else if len(rm.Schema) > 56 {
		problems = append(problems, fmt.Sprintf("Schema %q is longer than 56 bytes", rm.Schema))
	}
	if rm.Setup == nil {
		problems = append(problems, "nil Setup")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: pgprojection: define %q: %s", courier.ErrInvalidConfig, projection, strings.Join(problems, "; "))
	}
	s.mu.Lock()
	if old, ok := s.models[projection]; ok && old.Schema != rm.Schema {
		s.mu.Unlock()
		return fmt.Errorf("%w: pgprojection: projection %q is already defined with schema %q", courier.ErrInvalidConfig, projection, old.Schema)
	}
	s.models[projection] = rm
	s.mu.Unlock()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, rm.Schema); err != nil {
			return fmt.Errorf("pgprojection: define %q: lock: %w", projection, err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, rm.Schema).Scan(&exists); err != nil {
			return fmt.Errorf("pgprojection: define %q: %w", projection, err)
		}
		if exists {
			return nil
		}
		return s.createSchema(ctx, tx, projection, rm, rm.Schema)
	})
}

// createSchema creates schema and runs rm.Setup in it.
func (s *Store) createSchema(ctx context.Context, tx pgx.Tx, projection string, rm ReadModel, schema string) error {
	id := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+id+`; SET LOCAL search_path TO `+id); err != nil {
		return fmt.Errorf("pgprojection: projection %q: create schema %s: %w", projection, id, err)
	}
	if err := rm.Setup(ctx, tx); err != nil {
		return fmt.Errorf("pgprojection: projection %q: set up schema %s: %w", projection, id, err)
	}
	return nil
}

func (s *Store) model(projection string) (ReadModel, error) {
	s.mu.RLock()
	rm, ok := s.models[projection]
	s.mu.RUnlock()
	if !ok {
		return rm, fmt.Errorf("%w: pgprojection: projection %q is not defined (call Define first)", courier.ErrInvalidConfig, projection)
	}
	return rm, nil
}

func schemaOf(rm ReadModel, m cqrs.Model) string {
	if m == cqrs.Shadow {
		return rm.Schema + "_shadow"
	}
	return rm.Schema
}

// Checkpoint returns the model's checkpoint, "" if it has none.
func (s *Store) Checkpoint(ctx context.Context, projection string, m cqrs.Model) (string, error) {
	var pos string
	err := s.pool.QueryRow(ctx, `SELECT position FROM `+s.cp+` WHERE projection = $1 AND model = $2`, projection, m.String()).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pgprojection: checkpoint of %q %s: %w", projection, m, err)
	}
	return pos, nil
}

// lock locks the model's checkpoint row, creating it, and returns its position.
func (s *Store) lock(ctx context.Context, tx pgx.Tx, projection string, m cqrs.Model) (string, error) {
	var pos string
	err := tx.QueryRow(ctx, `INSERT INTO `+s.cp+` (projection, model, position) VALUES ($1, $2, '')
		ON CONFLICT (projection, model) DO UPDATE SET position = `+s.cp+`.position
		RETURNING position`, projection, m.String()).Scan(&pos)
	if err != nil {
		return "", fmt.Errorf("pgprojection: lock checkpoint of %q %s: %w", projection, m, err)
	}
	return pos, nil
}

// Apply runs fn and moves the checkpoint from from to to in one transaction, in which the
// checkpoint row is locked first: concurrent Applies to one model run one after the other,
// and the second finds the checkpoint moved.
func (s *Store) Apply(ctx context.Context, projection string, m cqrs.Model, from, to string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	rm, err := s.model(projection)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		pos, err := s.lock(ctx, tx, projection, m)
		if err != nil {
			return err
		}
		if pos != from {
			return fmt.Errorf("%w: projection %q %s model is at %q, not %q", cqrs.ErrCheckpointMoved, projection, m, pos, from)
		}
		if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+pgx.Identifier{schemaOf(rm, m)}.Sanitize()); err != nil {
			return fmt.Errorf("pgprojection: projection %q: %w", projection, err)
		}
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+s.cp+` SET position = $3, updated_at = now() WHERE projection = $1 AND model = $2`,
			projection, m.String(), to); err != nil {
			return fmt.Errorf("pgprojection: save checkpoint of %q %s: %w", projection, m, err)
		}
		if s.beforeCommit != nil {
			return s.beforeCommit(ctx, tx)
		}
		return nil
	})
}

// ResetShadow drops the shadow schema if it exists and creates it again with Setup.
func (s *Store) ResetShadow(ctx context.Context, projection string) error {
	rm, err := s.model(projection)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.lock(ctx, tx, projection, cqrs.Shadow); err != nil {
			return err
		}
		shadow := schemaOf(rm, cqrs.Shadow)
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{shadow}.Sanitize()+` CASCADE`); err != nil {
			return fmt.Errorf("pgprojection: projection %q: drop shadow: %w", projection, err)
		}
		if err := s.createSchema(ctx, tx, projection, rm, shadow); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE `+s.cp+` SET position = '', updated_at = now() WHERE projection = $1 AND model = $2`, projection, cqrs.Shadow.String())
		return err
	})
}

// PromoteShadow drops the live schema and renames the shadow to it, and makes the shadow's
// checkpoint the live one, in one transaction.
func (s *Store) PromoteShadow(ctx context.Context, projection string) error {
	rm, err := s.model(projection)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.lock(ctx, tx, projection, cqrs.Live); err != nil {
			return err
		}
		var pos string
		err := tx.QueryRow(ctx, `DELETE FROM `+s.cp+` WHERE projection = $1 AND model = $2 RETURNING position`,
			projection, cqrs.Shadow.String()).Scan(&pos)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pgprojection: projection %q has no shadow model to promote", projection)
		}
		if err != nil {
			return fmt.Errorf("pgprojection: projection %q: read shadow checkpoint: %w", projection, err)
		}
		live, shadow := pgx.Identifier{rm.Schema}.Sanitize(), pgx.Identifier{schemaOf(rm, cqrs.Shadow)}.Sanitize()
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+live+` CASCADE; ALTER SCHEMA `+shadow+` RENAME TO `+live); err != nil {
			return fmt.Errorf("pgprojection: projection %q: swap %s for %s: %w", projection, shadow, live, err)
		}
		_, err = tx.Exec(ctx, `UPDATE `+s.cp+` SET position = $3, updated_at = now() WHERE projection = $1 AND model = $2`,
			projection, cqrs.Live.String(), pos)
		return err
	})
}
