package pgstore

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// DefaultSchema is the PostgreSQL schema the store's tables live in unless configured.
const DefaultSchema = "eventsource"

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func checkSchema(schema string) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("pgstore: schema name %q is not a lower-case SQL identifier of at most 63 bytes ([a-z_][a-z0-9_]*)", schema)
	}
	return nil
}

// Migrate creates the store's schema, tables and indexes if they do not exist; it is safe to
// run at every start, from many processes at once (they take turns on an advisory lock).
//
// Tables: streams (one row per stream: its version and the ID of the transaction that last
// appended to it) and events (a global sequence number, the appending transaction's ID,
// stream, version, event ID, type, data, metadata, time), with the primary key (stream,
// version), a unique event ID, and an index on (transaction ID, sequence) for ReadAll;
// checkpoints (of subscriptions and relays) and snapshots (of aggregates).
func Migrate(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, schema string) error {
	if schema == "" {
		schema = DefaultSchema
	}
	if err := checkSchema(schema); err != nil {
		return err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: migrate schema %q: %w", schema, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	s := pgx.Identifier{schema}.Sanitize()
	stmts := []string{
		`SELECT pg_advisory_xact_lock(hashtext('courier-eventsource-migrate'))`,
		`CREATE SCHEMA IF NOT EXISTS ` + s,
		`CREATE TABLE IF NOT EXISTS ` + s + `.streams (
			stream   text PRIMARY KEY,
			version  bigint NOT NULL CHECK (version > 0),
			last_xid xid8 NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS ` + s + `.events (
			seq      bigint GENERATED ALWAYS AS IDENTITY,
			xid      xid8 NOT NULL DEFAULT pg_current_xact_id(),
			stream   text NOT NULL,
			version  bigint NOT NULL,
			id       text NOT NULL,
			type     text NOT NULL,
			data     bytea NOT NULL,
			metadata jsonb,
			time     timestamptz NOT NULL DEFAULT statement_timestamp(),
			CONSTRAINT events_stream_version PRIMARY KEY (stream, version),
			CONSTRAINT events_id UNIQUE (id)
		)`,
		`CREATE INDEX IF NOT EXISTS events_xid_seq ON ` + s + `.events (xid, seq)`,
		`CREATE TABLE IF NOT EXISTS ` + s + `.snapshots (
			stream  text PRIMARY KEY,
			version bigint NOT NULL,
			schema  text NOT NULL,
			state   bytea NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS ` + s + `.checkpoints (
			name     text PRIMARY KEY,
			position bytea NOT NULL,
			updated  timestamptz NOT NULL DEFAULT now()
		)`,
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("pgstore: migrate schema %q: %w", schema, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: migrate schema %q: %w", schema, err)
	}
	return nil
}
