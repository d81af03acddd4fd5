package deduppg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware"
	"github.com/jackc/pgx/v5"
)

// DefaultStoreTable is StoreConfig.Table when it is empty.
const DefaultStoreTable = "courier_dedup"

// StoreConfig configures a Store.
type StoreConfig struct {
	// Consumer names the consumer group whose keys the store keeps; required.
	Consumer string
	// Schema is the table's schema; empty means the connection's search_path.
	Schema string
	// Table is the table's name; empty means DefaultStoreTable.
	Table string
}

// Store is a middleware.Store in PostgreSQL, for handlers whose effects are not in the same
// database (use Inbox when they are: it needs no leases and makes effects exactly-once). A
// claim is an upsert that takes the key only when it is absent or its lease or TTL ran out;
// leases and TTLs are measured on the database's clock, so consumers on several hosts agree.
// Rows stay until DeleteExpired removes them.
type Store struct {
	db       DB
	consumer string
	table    string
}

// NewStore returns a Store on db. Call CreateTable once before use.
func NewStore(db DB, cfg StoreConfig) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: deduppg: nil DB", courier.ErrInvalidConfig)
	}
	if cfg.Consumer == "" {
		return nil, fmt.Errorf("%w: deduppg: empty Consumer (the consumer group the store keeps keys of)", courier.ErrInvalidConfig)
	}
	if cfg.Table == "" {
		cfg.Table = DefaultStoreTable
	}
	return &Store{db: db, consumer: cfg.Consumer, table: tableName(cfg.Schema, cfg.Table)}, nil
}

// tableName is the quoted, schema-qualified name of a table.
func tableName(schema, table string) string {
	if schema == "" {
		return pgx.Identifier{table}.Sanitize()
	}
	return pgx.Identifier{schema, table}.Sanitize()
}

// CreateTable creates the store's table if it does not exist.
func (s *Store) CreateTable(ctx context.Context) error {
	if _, err := s.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.table+` (
	consumer   text        NOT NULL,
	key        bytea       NOT NULL, -- bytes: a key may hold any byte, NUL included
	token      bigint      NOT NULL,
	done       boolean     NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (consumer, key)
)`); err != nil {
		return fmt.Errorf("deduppg: create table %s: %w", s.table, err)
	}
	return nil
}

// Claim implements middleware.Store. One statement: the upsert takes the key if it is free,
// and the same statement reads the state of a key it could not take.
func (s *Store) Claim(ctx context.Context, key string, lease time.Duration) (middleware.ClaimStatus, middleware.Token, error) {
	tok := int64(rand.Uint64()>>1) | 1 // positive, never 0
	var claimed bool
	var done *bool
	err := s.db.QueryRow(ctx, `WITH taken AS (
	INSERT INTO `+s.table+` AS d (consumer, key, token, done, expires_at)
	VALUES ($1, $2, $3, false, now() + $4 * interval '1 microsecond')
	ON CONFLICT (consumer, key) DO UPDATE SET token = EXCLUDED.token, done = false, expires_at = EXCLUDED.expires_at
	WHERE d.expires_at <= now()
	RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM taken), (SELECT done FROM `+s.table+` WHERE consumer = $1 AND key = $2)`,
		s.consumer, []byte(key), tok, lease.Microseconds()).Scan(&claimed, &done)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("deduppg: claim %q: %w", key, err)
	case claimed:
		return middleware.Claimed, middleware.Token(tok), nil
	case done != nil && *done:
		return middleware.Done, 0, nil
	}
	return middleware.Busy, 0, nil // held, or taken by a claim that committed after this statement began
}

// Commit implements middleware.Store.
func (s *Store) Commit(ctx context.Context, key string, tok middleware.Token, ttl time.Duration) error {
	tag, err := s.db.Exec(ctx, `INSERT INTO `+s.table+` AS d (consumer, key, token, done, expires_at)
VALUES ($1, $2, $3, true, now() + $4 * interval '1 microsecond')
ON CONFLICT (consumer, key) DO UPDATE SET token = EXCLUDED.token, done = true, expires_at = EXCLUDED.expires_at
WHERE d.token = EXCLUDED.token OR d.expires_at <= now()`, s.consumer, []byte(key), int64(tok), ttl.Microseconds())
	if err != nil {
		return fmt.Errorf("deduppg: commit %q: %w", key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: deduppg: key %q was claimed again after the lease ran out", middleware.ErrLeaseLost, key)
	}
	return nil
}

// Release implements middleware.Store.
func (s *Store) Release(ctx context.Context, key string, tok middleware.Token) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM `+s.table+` WHERE consumer = $1 AND key = $2 AND token = $3 AND NOT done`,
		s.consumer, []byte(key), int64(tok)); err != nil {
		return fmt.Errorf("deduppg: release %q: %w", key, err)
	}
	return nil
}

// DeleteExpired deletes the consumer's rows whose lease or TTL ran out and returns how many.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM `+s.table+` WHERE consumer = $1 AND expires_at <= now()`, s.consumer)
	if err != nil {
		return 0, fmt.Errorf("deduppg: delete expired rows of %s: %w", s.table, err)
	}
	return tag.RowsAffected(), nil
}
