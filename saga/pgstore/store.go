// Package pgstore keeps saga instances in PostgreSQL (through pgx), for the saga
// orchestrator: every Save is a compare-and-set on the row's version, and Claim hands due
// sagas to workers with UPDATE ... FOR UPDATE SKIP LOCKED, so many orchestrators in many
// processes share one table without waiting on each other.
//
// The table (Config.Table, default "saga_instances") is created by Migrate:
//
//	id text COLLATE "C" PRIMARY KEY, definition, state, version, step, attempt, awaiting,
//	data bytea, error, wake_at, lease_owner, lease_until, created_at, updated_at
//
// with a partial index on wake_at for the active states (the due timers) and one on
// (state, id) for listing all states but completed (completed sagas, usually most of the
// table, are listed through the primary key). A saga moving from step to step keeps its
// state and timer, so those saves change no indexed column and PostgreSQL can make them
// heap-only (HOT) updates, in the room the table's fillfactor of 70 leaves on each page.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/saga"
)

// DefaultTable is Config.Table when it is empty.
const DefaultTable = "saga_instances"

// Config configures a Store. The zero Config selects the defaults.
type Config struct {
	// Table is the table's name, optionally schema-qualified ("sagas.instances"); letters,
	// digits and underscores only. "" means DefaultTable.
	Table string
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$`)

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Table != "" && !identifier.MatchString(c.Table) {
		return fmt.Errorf("%w: saga pgstore: Table %q is not a (schema-qualified) identifier of letters, digits and underscores", courier.ErrInvalidConfig, c.Table)
	}
	return nil
}

// Store is a saga.Store on a PostgreSQL table. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	table string
	q     queries
}

type queries struct {
	create, get, save, exists, claim, list string
}

const columns = `id, definition, state, version, step, attempt, awaiting, data, error, wake_at, lease_owner, lease_until, created_at, updated_at`

// New returns a Store on pool; it does not touch the database (see Migrate).
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: saga pgstore: nil pool", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := cfg.Table
	if t == "" {
		t = DefaultTable
	}
	s := &Store{pool: pool, table: t}
	s.q = queries{
		create: `INSERT INTO ` + t + ` (` + columns + `) VALUES ($1,$2,$3,1,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
			ON CONFLICT (id) DO NOTHING RETURNING ` + columns,
		get: `SELECT ` + columns + ` FROM ` + t + ` WHERE id = $1`,
		save: `UPDATE ` + t + ` SET state=$4, version=version+1, step=$5, attempt=$6, awaiting=$7, data=$8,
			error=$9, wake_at=$10, lease_owner=$11, lease_until=$12, updated_at=$13
			WHERE id = $1 AND version = $2 AND definition = $3 RETURNING ` + columns,
		exists: `SELECT version, definition FROM ` + t + ` WHERE id = $1`,
		claim: `UPDATE ` + t + ` SET lease_owner = $1, lease_until = $3, version = version + 1
			WHERE id IN (SELECT id FROM ` + t + `
				WHERE state IN ('running', 'compensating') AND wake_at <= $2 AND (lease_owner = '' OR lease_until <= $2)
					AND definition = ANY($5)
				ORDER BY wake_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
			RETURNING ` + columns,
		list: `SELECT ` + columns + ` FROM ` + t + `
			WHERE ($1 = '' OR state = $1) AND ($2 = '' OR definition = $2) AND id > $3
			ORDER BY id LIMIT $4`,
	}
	return s, nil
}

// Migrate creates the table and its indexes if they do not exist.
func (s *Store) Migrate(ctx context.Context) error {
	idx := strings.ReplaceAll(s.table, ".", "_")
	if i := strings.LastIndex(s.table, "."); i >= 0 {
		idx = s.table[i+1:]
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + s.table + ` (
		id          text COLLATE "C" PRIMARY KEY,
		definition  text NOT NULL,
		state       text NOT NULL,
		version     bigint NOT NULL,
		step        integer NOT NULL,
		attempt     integer NOT NULL,
		awaiting    boolean NOT NULL,
		data        bytea,
		error       text NOT NULL,
		wake_at     timestamptz,
		lease_owner text NOT NULL,
		lease_until timestamptz,
		created_at  timestamptz NOT NULL,
		updated_at  timestamptz NOT NULL) WITH (fillfactor = 70);
	CREATE INDEX IF NOT EXISTS ` + idx + `_due ON ` + s.table + ` (wake_at, id) WHERE state IN ('running', 'compensating');
	CREATE INDEX IF NOT EXISTS ` + idx + `_state ON ` + s.table + ` (state, id) WHERE state <> 'completed'`
	if _, err := s.pool.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("saga pgstore: create table %s: %w", s.table, err)
	}
	return nil
}

// ts turns a zero time into NULL.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func scan(row pgx.Row) (saga.Instance, error) {
	var inst saga.Instance
	var state string
	var wake, until *time.Time
	err := row.Scan(&inst.ID, &inst.Definition, &state, &inst.Version, &inst.Step, &inst.Attempt, &inst.Awaiting,
		&inst.Data, &inst.Error, &wake, &inst.LeaseOwner, &until, &inst.CreatedAt, &inst.UpdatedAt)
	inst.State = saga.State(state)
	if wake != nil {
		inst.WakeAt = *wake
	}
	if until != nil {
		inst.LeaseUntil = *until
	}
	return inst, err
}

func scanAll(rows pgx.Rows) ([]saga.Instance, error) {
	defer rows.Close()
	var out []saga.Instance
	for rows.Next() {
		inst, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inst)
	}
	return out, rows.Err()
}

func (s *Store) wrap(op, id string, err error) error {
	return fmt.Errorf("saga pgstore: %s %q in %s: %w", op, id, s.table, err)
}

// Create implements saga.Store.
func (s *Store) Create(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	if err := saga.CheckInstance(inst); err != nil {
		return saga.Instance{}, err
	}
	got, err := scan(s.pool.QueryRow(ctx, s.q.create, inst.ID, inst.Definition, string(inst.State), inst.Step, inst.Attempt,
		inst.Awaiting, inst.Data, inst.Error, ts(inst.WakeAt), inst.LeaseOwner, ts(inst.LeaseUntil), inst.CreatedAt, inst.UpdatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		existing, gerr := s.Get(ctx, inst.ID)
		if gerr != nil {
			return saga.Instance{}, gerr
		}
		return existing, s.wrap("create", inst.ID, saga.ErrExists)
	}
	if err != nil {
		return saga.Instance{}, s.wrap("create", inst.ID, err)
	}
	return got, nil
}

// Get implements saga.Store.
func (s *Store) Get(ctx context.Context, id string) (saga.Instance, error) {
	got, err := scan(s.pool.QueryRow(ctx, s.q.get, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = saga.ErrNotFound
	}
	if err != nil {
		return saga.Instance{}, s.wrap("get", id, err)
	}
	return got, nil
}

// Save implements saga.Store.
func (s *Store) Save(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	if err := saga.CheckInstance(inst); err != nil {
		return saga.Instance{}, err
	}
	got, err := scan(s.pool.QueryRow(ctx, s.q.save, inst.ID, inst.Version, inst.Definition, string(inst.State), inst.Step,
		inst.Attempt, inst.Awaiting, inst.Data, inst.Error, ts(inst.WakeAt), inst.LeaseOwner, ts(inst.LeaseUntil), inst.UpdatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		var stored int64
		var def string
		switch err := s.pool.QueryRow(ctx, s.q.exists, inst.ID).Scan(&stored, &def); {
		case errors.Is(err, pgx.ErrNoRows):
			return saga.Instance{}, s.wrap("save", inst.ID, saga.ErrNotFound)
		case err != nil:
			return saga.Instance{}, s.wrap("save", inst.ID, err)
		case def != inst.Definition:
			return saga.Instance{}, s.wrap("save", inst.ID, fmt.Errorf("its definition is %q, not %q; a saga never changes its definition", def, inst.Definition))
		}
		return saga.Instance{}, s.wrap("save", inst.ID, fmt.Errorf("at version %d (stored %d): %w", inst.Version, stored, saga.ErrConflict))
	}
	if err != nil {
		return saga.Instance{}, s.wrap("save", inst.ID, err)
	}
	return got, nil
}

// Claim implements saga.Store.
func (s *Store) Claim(ctx context.Context, c saga.ClaimRequest) ([]saga.Instance, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.q.claim, c.Owner, c.Now, c.Now.Add(c.Lease), c.Limit, c.Definitions)
	if err != nil {
		return nil, fmt.Errorf("saga pgstore: claim in %s: %w", s.table, err)
	}
	out, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("saga pgstore: claim in %s: %w", s.table, err)
	}
	slices.SortFunc(out, func(a, b saga.Instance) int {
		if c := a.WakeAt.Compare(b.WakeAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// List implements saga.Store.
func (s *Store) List(ctx context.Context, q saga.Query) ([]saga.Instance, error) {
	var limit *int
	if q.Limit > 0 {
		limit = &q.Limit
	}
	rows, err := s.pool.Query(ctx, s.q.list, string(q.State), q.Definition, q.AfterID, limit)
	if err != nil {
		return nil, fmt.Errorf("saga pgstore: list %s: %w", s.table, err)
	}
	out, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("saga pgstore: list %s: %w", s.table, err)
	}
	return out, nil
}
