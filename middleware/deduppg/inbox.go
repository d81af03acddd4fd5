// Package deduppg is an inbox in PostgreSQL: a handler's writes and the row that marks its
// message handled commit in one transaction, so each message's effects are applied exactly
// once, whatever the broker redelivers and whichever consumers get the copies.
//
// [Inbox.Handler] turns a TxHandler, which does its work in the transaction it is given, into
// a courier.MessageHandler. For each message it begins a transaction, inserts the message's
// key into the inbox table (INSERT ... ON CONFLICT DO NOTHING), and then:
//   - the key was there: the message was handled before; the transaction is rolled back and
//     the message acknowledged without running the handler;
//   - the key is new: the handler runs in the transaction; on success the transaction commits
//     (effects and inbox row together) and the message is acknowledged; on error or panic it
//     rolls back (neither effects nor row) and the message comes back.
//
// A consumer that crashes anywhere before the commit leaves nothing behind; one whose commit
// succeeded but whose acknowledgement was lost sees the key on redelivery. Two consumers
// given copies at once are ordered by PostgreSQL: the second one's INSERT waits for the
// first one's transaction and then finds the key (or, if the first rolled back, takes it).
// No leases, no clocks.
//
// Effects outside the transaction (an HTTP call, a message sent) are not covered: they run
// again when the transaction rolls back after them. Rows stay until [Inbox.Purge] removes
// those older than the redelivery horizon of the broker.
//
// [Store] is the other way to deduplicate in PostgreSQL: a middleware.Store with leases, as
// the memory and Redis stores are, for handlers whose effects live elsewhere.
//
// Keys are stored as bytea, so any message key fits (text refuses NUL bytes).
package deduppg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/courier-go/courier"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultTable is Config.Table when it is empty.
const DefaultTable = "courier_inbox"

// Config configures an Inbox.
type Config struct {
	// Consumer names the consumer group whose messages the inbox records; required. Groups
	// may share the table: each has its own keys.
	Consumer string
	// Schema is the table's schema; empty means the connection's search_path.
	Schema string
	// Table is the inbox table's name; empty means DefaultTable.
	Table string
	// Key returns the key a message is known by; nil means its ID.
	Key func(courier.Message) string
	// TxOptions are the options of the handler's transaction (isolation level...); the zero
	// value is PostgreSQL's default, READ COMMITTED.
	TxOptions pgx.TxOptions
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Consumer == "" {
		return fmt.Errorf("%w: deduppg: empty Consumer (the consumer group the inbox records)", courier.ErrInvalidConfig)
	}
	return nil
}

// DB begins transactions: a *pgxpool.Pool (what a consumer with Concurrency > 1 needs), or a
// *pgx.Conn for one handler call at a time.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// TxHandler handles a message inside tx, the transaction that also records it. It must not
// commit or roll back tx.
type TxHandler func(ctx context.Context, tx pgx.Tx, msg courier.Message) error

// Inbox records handled messages in PostgreSQL. It is safe for concurrent use when its DB is.
type Inbox struct {
	db    DB
	cfg   Config
	table string // quoted, schema-qualified
}

// New returns an Inbox on db, which the caller keeps and closes. Call CreateTable once (or
// create the table with the statement it runs) before handling messages.
func New(db DB, cfg Config) (*Inbox, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: deduppg: nil DB", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	return &Inbox{db: db, cfg: cfg, table: tableName(cfg.Schema, cfg.Table)}, nil
}

// CreateTable creates the inbox table if it does not exist.
func (in *Inbox) CreateTable(ctx context.Context) error {
	if _, err := in.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+in.table+` (
	consumer     text        NOT NULL,
	key          bytea       NOT NULL, -- bytes: a key may hold any byte, NUL included
	processed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (consumer, key)
)`); err != nil {
		return fmt.Errorf("deduppg: create table %s: %w", in.table, err)
	}
	if _, err := in.db.Exec(ctx, `CREATE INDEX IF NOT EXISTS `+pgx.Identifier{in.cfg.Table + "_processed_at"}.Sanitize()+
		` ON `+in.table+` (processed_at)`); err != nil {
		return fmt.Errorf("deduppg: create index on %s: %w", in.table, err)
	}
	return nil
}

// Handler returns a courier.MessageHandler that runs h at most once per message key, in a
// transaction that records the key (see the package documentation).
func (in *Inbox) Handler(h TxHandler) (courier.MessageHandler, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: deduppg: nil TxHandler", courier.ErrInvalidConfig)
	}
	return courier.HandlerFunc(func(ctx context.Context, msg courier.Message) error {
		return in.handle(ctx, h, msg)
	}), nil
}

// ErrEmptyKey is wrapped by the handler's error for a message whose key is empty.
var ErrEmptyKey = errors.New("deduppg: empty key")

func (in *Inbox) handle(ctx context.Context, h TxHandler, msg courier.Message) (err error) {
	key := msg.ID
	if in.cfg.Key != nil {
		key = in.cfg.Key(msg)
	}
	if key == "" {
		return fmt.Errorf("%w: message %q on %q", ErrEmptyKey, msg.ID, msg.Topic)
	}
	tx, err := in.db.BeginTx(ctx, in.cfg.TxOptions)
	if err != nil {
		return fmt.Errorf("deduppg: message %s on %q: begin: %w", msg.ID, msg.Topic, err)
	}
	committed := false
	defer func() {
		if !committed { // an error, or a panic on its way up
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	tag, err := tx.Exec(ctx, `INSERT INTO `+in.table+` (consumer, key) VALUES ($1, $2) ON CONFLICT DO NOTHING`, in.cfg.Consumer, []byte(key))
	if err != nil {
		return fmt.Errorf("deduppg: message %s on %q: record in %s: %w", msg.ID, msg.Topic, in.table, err)
	}
	if tag.RowsAffected() == 0 {
		return nil // handled before: acknowledge without running
	}
	if err := h(ctx, tx, msg); err != nil {
		return err
	}
	committed = true
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("deduppg: message %s on %q: commit: %w", msg.ID, msg.Topic, err)
	}
	return nil
}

// Handled reports whether the message key is recorded as handled.
func (in *Inbox) Handled(ctx context.Context, key string) (bool, error) {
	var n int
	if err := in.db.QueryRow(ctx, `SELECT count(*) FROM `+in.table+` WHERE consumer = $1 AND key = $2`, in.cfg.Consumer, []byte(key)).Scan(&n); err != nil {
		return false, fmt.Errorf("deduppg: look up %q: %w", key, err)
	}
	return n > 0, nil
}

// Purge deletes the consumer's rows recorded before before and returns how many. Copies of
// their messages delivered later run again: keep rows longer than the broker may redeliver.
func (in *Inbox) Purge(ctx context.Context, before time.Time) (int64, error) {
	tag, err := in.db.Exec(ctx, `DELETE FROM `+in.table+` WHERE consumer = $1 AND processed_at < $2`, in.cfg.Consumer, before)
	if err != nil {
		return 0, fmt.Errorf("deduppg: purge %s: %w", in.table, err)
	}
	return tag.RowsAffected(), nil
}
