// Package pgstore is an eventsource.Store on PostgreSQL (13 or later), with pgx v5.
//
// # Appends
//
// An append is one statement: it moves the stream's row in the streams table on (insert,
// update or upsert, with the expected version in its WHERE clause) and, in the same
// statement, inserts the events with unnest. Two writers at the same expected version queue
// on the stream's row; the second finds the version moved and its statement changes nothing,
// which Append reports as a *eventsource.ConflictError with the actual version. No unique
// violation is ever relied on for that, so callers never see a raw driver error for a lost
// race. [Store.AppendTx] appends inside a caller's own pgx.Tx, together with its other writes.
//
// # Global order without gaps
//
// Events carry the ID of the transaction that appended them (xid8) and a sequence number;
// their Position is (transaction ID, sequence). Sequence numbers are taken before commit, so
// a transaction can commit after another one with higher numbers: a reader ordered by
// sequence alone would pass the late event by for good. ReadAll therefore only returns
// events whose transaction ID is below the read horizon pg_snapshot_xmin(pg_current_snapshot()),
// the oldest transaction still running: every transaction below it has ended, so nothing can
// appear there later. A long-running transaction holds the horizon (and so live readers)
// back until it ends; keep transactions that append short.
//
// For that order to keep each stream's versions in order, a transaction must not append to
// a stream after a transaction with a higher ID did. The streams table keeps the ID of the
// stream's last appending transaction: Append (in its own transaction) simply tries again
// with a new one, while AppendTx in a caller's transaction that is older than the stream's
// last append is refused with a *eventsource.ConflictError whose Reason says so (the only
// case where an Any append conflicts): retry in a new transaction.
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/courier-go/courier/eventsource"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Config.
const (
	DefaultPageSize = 500
)

// Config configures a Store. The zero value uses the documented defaults.
type Config struct {
	// Schema holds the store's tables (see Migrate); "" means DefaultSchema.
	Schema string
	// MaxEventSize is the largest event (EventData.Size) Append accepts; 0 means
	// eventsource.DefaultMaxEventSize, negative means no limit (PostgreSQL's own is 1 GB).
	MaxEventSize int
	// PageSize is how many events a read fetches per query; 0 means DefaultPageSize.
	PageSize int
}

// Validate says what is wrong with cfg.
func (cfg Config) Validate() error {
	if cfg.Schema != "" {
		if err := checkSchema(cfg.Schema); err != nil {
			return err
		}
	}
	if cfg.PageSize < 0 {
		return fmt.Errorf("pgstore: negative PageSize %d", cfg.PageSize)
	}
	return nil
}

// Store is an event store in PostgreSQL. Create it with New, after Migrate.
type Store struct {
	pool    *pgxpool.Pool
	cfg     Config
	closed  atomic.Bool
	sqlAny  string // append statements by kind of expected version
	sqlNew  string
	sqlNext string
	sqlAll  string
	sqlFwd  string
	sqlBack string
	schema  string // sanitized
}

// New returns a store on pool's database; the tables must exist (Migrate). Close does not
// close pool.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	if cfg.MaxEventSize == 0 {
		cfg.MaxEventSize = eventsource.DefaultMaxEventSize
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	s := &Store{pool: pool, cfg: cfg, schema: pgx.Identifier{cfg.Schema}.Sanitize()}
	s.buildSQL()
	return s, nil
}

// The append statement: $1 stream, $2 number of events, $3 expected version (Exact only),
// $4.. the events' columns as arrays. The first CTE moves the stream row on and returns its
// new version only if the expected version holds, no event ID is stored yet, and no younger
// transaction appended to the stream; with no row there, nothing is inserted.
func (s *Store) buildSQL() {
	const guard = ` AND NOT EXISTS (SELECT 1 FROM %[1]s.events WHERE id = ANY($4::text[]))`
	const ins = `,
ins AS (
	INSERT INTO %[1]s.events (stream, version, id, type, data, metadata)
	SELECT $1, st.version - $2 + u.ord, u.id, u.type, u.data, NULLIF(u.meta, '')::jsonb
	FROM st, unnest($4::text[], $5::text[], $6::bytea[], $7::text[]) WITH ORDINALITY AS u(id, type, data, meta, ord)
	ORDER BY u.ord
	RETURNING seq
)
SELECT st.version, pg_current_xact_id(), (SELECT max(seq) FROM ins) FROM st`
	f := func(q string) string { return fmt.Sprintf(q+ins, s.schema) }
	// Any: insert the row or move it on.
	s.sqlAny = f(`WITH st AS (
	INSERT INTO %[1]s.streams AS x (stream, version, last_xid)
	SELECT $1, $2, pg_current_xact_id() WHERE $3::bigint IS NULL` + guard + `
	ON CONFLICT (stream) DO UPDATE SET version = x.version + $2, last_xid = pg_current_xact_id()
	WHERE x.last_xid <= pg_current_xact_id()` + guard + `
	RETURNING x.version
)`)
	// NoStream: insert the row only if it is not there.
	s.sqlNew = f(`WITH st AS (
	INSERT INTO %[1]s.streams (stream, version, last_xid)
	SELECT $1, $2, pg_current_xact_id() WHERE $3::bigint IS NULL` + guard + `
	ON CONFLICT (stream) DO NOTHING
	RETURNING version
)`)
	// StreamExists ($3 NULL) and Exact ($3 the version): move an existing row on.
	s.sqlNext = f(`WITH st AS (
	UPDATE %[1]s.streams SET version = version + $2, last_xid = pg_current_xact_id()
	WHERE stream = $1 AND ($3::bigint IS NULL OR version = $3) AND last_xid <= pg_current_xact_id()` + guard + `
	RETURNING version
)`)
	const cols = `xid, seq, stream, version, id, type, data, metadata, time`
	s.sqlAll = fmt.Sprintf(`SELECT `+cols+` FROM %[1]s.events
WHERE (xid, seq) > ($1::xid8, $2::bigint) AND xid < pg_snapshot_xmin(pg_current_snapshot())
	AND starts_with(stream, $3) AND ($4::text[] IS NULL OR type = ANY($4))
ORDER BY xid, seq LIMIT $5`, s.schema)
	s.sqlFwd = fmt.Sprintf(`SELECT `+cols+` FROM %[1]s.events WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3`, s.schema)
	s.sqlBack = fmt.Sprintf(`SELECT `+cols+` FROM %[1]s.events WHERE stream = $1 AND version <= $2 ORDER BY version DESC LIMIT $3`, s.schema)
}

// querier is what a pool and a transaction share.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Append implements eventsource.Store, in a transaction of its own.
func (s *Store) Append(ctx context.Context, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	return s.append(ctx, s.pool, false, stream, expected, events)
}

// AppendTx appends like Append, inside tx: the events are stored if and when tx commits,
// together with tx's other writes. It is refused with a *eventsource.ConflictError when tx
// is older than the stream's last append (see the package documentation). A failed AppendTx
// may leave tx aborted (PostgreSQL aborts a transaction at any error): roll it back. Use the
// default isolation, READ COMMITTED: under REPEATABLE READ or SERIALIZABLE, a concurrent
// append to the same stream makes PostgreSQL fail the statement with a serialization error
// (returned as it is, wrapped) instead of letting Append report a conflict.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	if tx == nil {
		return eventsource.AppendResult{}, fmt.Errorf("pgstore: append to stream %q: nil transaction", stream)
	}
	return s.append(ctx, tx, true, stream, expected, events)
}

// maxRetries bounds how often Append tries again when its transaction lost the race for a
// stream to a younger one (it never loses on versions that way: those are conflicts).
const maxRetries = 20

func (s *Store) append(ctx context.Context, q querier, inTx bool, stream string, expected eventsource.ExpectedVersion, in []eventsource.EventData) (eventsource.AppendResult, error) {
	if s.closed.Load() {
		return eventsource.AppendResult{}, eventsource.ErrClosed
	}
	events, err := eventsource.PrepareAppend(stream, expected, in, s.cfg.MaxEventSize)
	if err != nil {
		return eventsource.AppendResult{}, err
	}
	n := len(events)
	ids, types, metas := make([]string, n), make([]string, n), make([]string, n)
	data := make([][]byte, n)
	for i, e := range events {
		ids[i], types[i], data[i] = e.ID, e.Type, e.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
		if len(e.Metadata) > 0 {
			b, err := json.Marshal(e.Metadata)
			if err != nil {
				return eventsource.AppendResult{}, fmt.Errorf("pgstore: append to stream %q: metadata of event %q: %w", stream, e.ID, err)
			}
			metas[i] = string(b)
		}
	}
	sql := s.sqlNext
	var exact *int64
	if v, ok := expected.Version(); ok && v > 0 {
		exact = &v
	} else if ok {
		sql = s.sqlNew
	} else if expected.IsAny() {
		sql = s.sqlAny
	}
	for attempt := 0; ; attempt++ {
		var version int64
		var xid uint64
		var seq int64
		err := q.QueryRow(ctx, sql, stream, n, exact, ids, types, data, metas).Scan(&version, &xid, &seq)
		if err == nil {
			return eventsource.AppendResult{Version: version, Position: eventsource.NewPosition(xid, uint64(seq))}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return eventsource.AppendResult{}, s.appendError(stream, expected, err)
		}
		// Nothing appended: a retry of stored events, a conflict, a stored ID, or (in its
		// own transaction) a younger transaction that appended first.
		res, retry, err := s.refused(ctx, q, inTx, stream, expected, events)
		if err != nil || !retry {
			return res, err
		}
		if attempt == maxRetries {
			return res, fmt.Errorf("pgstore: append to stream %q: still refused after %d attempts", stream, attempt+1)
		}
	}
}

// refused finds out why an append changed nothing; retry says the statement may succeed if
// run again.
func (s *Store) refused(ctx context.Context, q querier, inTx bool, stream string, expected eventsource.ExpectedVersion, events []eventsource.EventData) (res eventsource.AppendResult, retry bool, err error) {
	fail := func(err error) (eventsource.AppendResult, bool, error) {
		return eventsource.AppendResult{}, false, fmt.Errorf("pgstore: append to stream %q: %w", stream, err)
	}
	// Are the events stored already, right where this append would have put them?
	rows, err := q.Query(ctx, fmt.Sprintf(`SELECT e.id, e.version, e.xid, e.seq FROM %[1]s.events e, %[1]s.events f
		WHERE f.id = $2 AND f.stream = $1 AND e.stream = $1 AND e.version >= f.version ORDER BY e.version LIMIT $3`, s.schema),
		stream, events[0].ID, len(events))
	if err != nil {
		return fail(err)
	}
	var stored []string
	var first, last int64
	var lastXid, lastSeq uint64
	for rows.Next() {
		var id string
		var v int64
		if err := rows.Scan(&id, &v, &lastXid, &lastSeq); err != nil {
			rows.Close()
			return fail(err)
		}
		if first == 0 {
			first = v
		}
		last = v
		stored = append(stored, id)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if first > 0 && eventsource.IsRetry(expected, events, first, stored) {
		return eventsource.AppendResult{Version: last, Position: eventsource.NewPosition(lastXid, lastSeq)}, false, nil
	}
	var actual int64
	var younger bool
	err = q.QueryRow(ctx, fmt.Sprintf(`SELECT version, last_xid > pg_current_xact_id() FROM %s.streams WHERE stream = $1`, s.schema), stream).Scan(&actual, &younger)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fail(err)
	}
	if !expected.Allows(actual) {
		return eventsource.AppendResult{}, false, &eventsource.ConflictError{Stream: stream, Expected: expected, Actual: actual}
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	var dupID, dupStream string
	var dupVersion int64
	err = q.QueryRow(ctx, fmt.Sprintf(`SELECT id, stream, version FROM %s.events WHERE id = ANY($1) LIMIT 1`, s.schema), ids).Scan(&dupID, &dupStream, &dupVersion)
	if err == nil {
		return fail(fmt.Errorf("%w: event ID %q is already stored as version %d of stream %q", eventsource.ErrDuplicateEventID, dupID, dupVersion, dupStream))
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fail(err)
	}
	if inTx && younger {
		return eventsource.AppendResult{}, false, &eventsource.ConflictError{Stream: stream, Expected: expected, Actual: actual,
			Reason: "the transaction is older than the one that last appended to the stream; append again in a new transaction"}
	}
	// The stream moved between the statement and these reads, or (in its own transaction)
	// a younger transaction appended first: the next attempt runs in a new one.
	return eventsource.AppendResult{}, true, nil
}

// appendError wraps a failed append statement. Of the constraint violations, only the
// (stream, version) key means a conflict; a stored event ID (raced in by a concurrent
// append) is ErrDuplicateEventID; the rest is returned as it is, wrapped.
func (s *Store) appendError(stream string, expected eventsource.ExpectedVersion, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "events_stream_version", "streams_pkey":
			return &eventsource.ConflictError{Stream: stream, Expected: expected, Actual: -1,
				Reason: "a concurrent append took the same version (actual version unknown: " + pgErr.Message + ")"}
		case "events_id":
			return fmt.Errorf("pgstore: append to stream %q: %w: %s", stream, eventsource.ErrDuplicateEventID, pgErr.Detail)
		}
	}
	return fmt.Errorf("pgstore: append to stream %q: %w", stream, err)
}

// ReadStream implements eventsource.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventsource.ReadOptions) iter.Seq2[eventsource.Event, error] {
	if err := opts.Validate(); err != nil {
		return eventsource.ReadError(fmt.Errorf("pgstore: stream %q: %w", stream, err))
	}
	return eventsource.Pages(ctx, fmt.Sprintf("pgstore: read stream %q", stream), opts.Limit, s.cfg.PageSize, func() eventsource.PageFunc {
		next := opts.From
		sql := s.sqlFwd
		if opts.Direction == eventsource.Backward {
			sql = s.sqlBack
			if next < 1 {
				next = 1<<63 - 1
			}
		}
		return func(n int) ([]eventsource.Event, bool, error) {
			if s.closed.Load() {
				return nil, true, eventsource.ErrClosed
			}
			page, err := s.query(ctx, sql, stream, next, n)
			if len(page) > 0 {
				next = page[len(page)-1].Version + 1
				if opts.Direction == eventsource.Backward {
					next -= 2
				}
			}
			return page, len(page) < n || next < 1, err
		}
	})
}

// ReadAll implements eventsource.Store: see the package documentation for its order.
func (s *Store) ReadAll(ctx context.Context, from eventsource.Position, opts eventsource.ReadAllOptions) iter.Seq2[eventsource.Event, error] {
	var types []string
	if len(opts.Filter.Types) > 0 {
		types = opts.Filter.Types
	}
	return eventsource.Pages(ctx, "pgstore: read all", opts.Limit, s.cfg.PageSize, func() eventsource.PageFunc {
		xid, seq := from.Parts()
		return func(n int) ([]eventsource.Event, bool, error) {
			if s.closed.Load() {
				return nil, true, eventsource.ErrClosed
			}
			if seq > 1<<63-1 {
				return nil, true, fmt.Errorf("%w: position %v was not made by a pgstore", eventsource.ErrInvalidEvent, from)
			}
			page, err := s.query(ctx, s.sqlAll, xid, int64(seq), opts.Filter.StreamPrefix, types, n)
			if len(page) > 0 {
				xid, seq = page[len(page)-1].Position.Parts()
			}
			return page, len(page) < n, err
		}
	})
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]eventsource.Event, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	var out []eventsource.Event
	for rows.Next() {
		var e eventsource.Event
		var xid uint64
		var seq int64
		var meta []byte
		if err := rows.Scan(&xid, &seq, &e.Stream, &e.Version, &e.ID, &e.Type, &e.Data, &meta, &e.Time); err != nil {
			rows.Close()
			return out, err
		}
		e.Position = eventsource.NewPosition(xid, uint64(seq))
		if meta != nil {
			if err := json.Unmarshal(meta, &e.Metadata); err != nil {
				rows.Close()
				return out, fmt.Errorf("event %q: metadata: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Close implements eventsource.Store. It does not close the pool given to New.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// Pool returns the pool the store uses, to begin transactions for AppendTx.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema holding the store's tables.
func (s *Store) Schema() string { return s.cfg.Schema }
