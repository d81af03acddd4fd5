// Package pgstate keeps the keyed state of courier's stream package in PostgreSQL: a
// stream.Store whose update is one UPDATE (or INSERT) statement, so checking the update's ID,
// checking the version, writing the value and remembering the ID happen atomically, whichever
// process runs them.
//
// All tables of a Store live in one PostgreSQL table (Config.Schema, Config.Table), one row
// per key:
//
//	tbl bytea, key bytea, value bytea, version bigint, ids bytea[]  PRIMARY KEY (tbl, key)
//
// ids holds the IDs of the key's latest updates (Config.Remember of them). Names and IDs are
// bytes, not text, because a Go string may hold any byte (PostgreSQL text refuses NUL).
// CreateTable makes the table if it is missing.
package pgstate

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/stream"
)

// DefaultTable is the table a Store uses when Config.Table is empty.
const DefaultTable = "courier_stream_state"

// DB is what a Store needs of a connection: *pgxpool.Pool and *pgx.Conn have it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Config configures a Store. The zero value selects the defaults.
type Config struct {
	// Schema holds the table; empty means the connection's search_path.
	Schema string
	// Table is the table's name; empty means DefaultTable.
	Table string
	// Remember is how many update IDs per key are kept; 0 means stream.DefaultRemember.
	Remember int
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Remember < 0 {
		return fmt.Errorf("%w: pgstate: negative Remember %d", courier.ErrInvalidConfig, c.Remember)
	}
	return nil
}

// Store is a stream.Store in PostgreSQL. It is safe for concurrent use as far as db is.
type Store struct {
	db       DB
	table    string // quoted, qualified
	remember int

	get, update, insert, classify, keys, del, create string
}

var _ stream.Store = (*Store)(nil)

// New returns a Store on db. Call CreateTable once (or create the table with a migration).
func New(db DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: pgstate: nil DB", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Remember == 0 {
		cfg.Remember = stream.DefaultRemember
	}
	id := pgx.Identifier{cfg.Table}
	if cfg.Schema != "" {
		id = pgx.Identifier{cfg.Schema, cfg.Table}
	}
	t := id.Sanitize()
	return &Store{
		db: db, table: t, remember: cfg.Remember,
		create: `CREATE TABLE IF NOT EXISTS ` + t + ` (
			tbl bytea NOT NULL, key bytea NOT NULL, value bytea NOT NULL,
			version bigint NOT NULL, ids bytea[] NOT NULL, PRIMARY KEY (tbl, key))`,
		get: `SELECT value, version FROM ` + t + ` WHERE tbl = $1 AND key = $2`,
		// The row is locked and its WHERE checked again after any concurrent update commits,
		// so the ID check, the version check and the write are one step.
		update: `UPDATE ` + t + ` SET value = $5, version = version + 1,
			ids = (array_append(ids, $3::bytea))[greatest(1, cardinality(ids) + 2 - $6):]
			WHERE tbl = $1 AND key = $2 AND version = $4 AND NOT ($3::bytea = ANY(ids))
			RETURNING version`,
		insert: `INSERT INTO ` + t + ` (tbl, key, value, version, ids) VALUES ($1, $2, $4, 1, ARRAY[$3::bytea])
			ON CONFLICT (tbl, key) DO NOTHING RETURNING version`,
		classify: `SELECT value, version, $3::bytea = ANY(ids) FROM ` + t + ` WHERE tbl = $1 AND key = $2`,
		keys:     `SELECT key FROM ` + t + ` WHERE tbl = $1`,
		del:      `DELETE FROM ` + t + ` WHERE tbl = $1 AND key = $2`,
	}, nil
}

// CreateTable creates the store's table if it does not exist.
func (s *Store) CreateTable(ctx context.Context) error {
	if _, err := s.db.Exec(ctx, s.create); err != nil {
		return fmt.Errorf("pgstate: creating %s: %w", s.table, err)
	}
	return nil
}

func wrap(op, table, key string, err error) error {
	return fmt.Errorf("pgstate: %s table %q key %q: %w", op, table, key, err)
}

// Get implements stream.Store.
func (s *Store) Get(ctx context.Context, table, key string) (stream.State, error) {
	var st stream.State
	err := s.db.QueryRow(ctx, s.get, []byte(table), []byte(key)).Scan(&st.Value, &st.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return stream.State{}, nil
	}
	if err != nil {
		return stream.State{}, wrap("get", table, key, err)
	}
	return st, nil
}

// Apply implements stream.Store: one UPDATE when the key has state (one INSERT when it is
// expected to have none), and, only when that changed nothing, a read to tell a duplicate
// from a conflict.
func (s *Store) Apply(ctx context.Context, table, key string, u stream.Update) (stream.Outcome, stream.State, error) {
	if err := stream.CheckUpdate(table, key, u); err != nil {
		return 0, stream.State{}, err
	}
	value := u.Value
	if value == nil {
		value = []byte{}
	}
	var ver int64
	var err error
	if u.Expect == 0 {
		err = s.db.QueryRow(ctx, s.insert, []byte(table), []byte(key), []byte(u.ID), value).Scan(&ver)
	} else {
		err = s.db.QueryRow(ctx, s.update, []byte(table), []byte(key), []byte(u.ID), u.Expect, value, s.remember).Scan(&ver)
	}
	if err == nil {
		return stream.Applied, stream.State{Value: slices.Clone(value), Version: ver}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, stream.State{}, wrap("apply", table, key, err)
	}
	var st stream.State
	var dup bool
	err = s.db.QueryRow(ctx, s.classify, []byte(table), []byte(key), []byte(u.ID)).Scan(&st.Value, &st.Version, &dup)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return stream.Conflict, stream.State{}, nil // deleted since, or never there
	case err != nil:
		return 0, stream.State{}, wrap("apply", table, key, err)
	case dup:
		return stream.Duplicate, st, nil
	}
	return stream.Conflict, st, nil
}

// Keys implements stream.Store.
func (s *Store) Keys(ctx context.Context, table string) ([]string, error) {
	rows, err := s.db.Query(ctx, s.keys, []byte(table))
	if err != nil {
		return nil, fmt.Errorf("pgstate: keys of table %q: %w", table, err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var b []byte
		err := r.Scan(&b)
		return string(b), err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstate: keys of table %q: %w", table, err)
	}
	return keys, nil
}

// Delete implements stream.Store.
func (s *Store) Delete(ctx context.Context, table, key string) error {
	if _, err := s.db.Exec(ctx, s.del, []byte(table), []byte(key)); err != nil {
		return wrap("delete", table, key, err)
	}
	return nil
}
