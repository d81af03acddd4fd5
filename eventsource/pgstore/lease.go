package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AdvisoryLease is an eventsource.Lease across processes: a PostgreSQL session advisory lock
// on a connection of its own, held for as long as the lease. If that connection breaks, the
// server drops the lock, and the lease's context ends within CheckEvery.
type AdvisoryLease struct {
	Pool *pgxpool.Pool
	// CheckEvery is how often the holder checks its connection and a waiter tries the lock;
	// 0 means 1 s.
	CheckEvery time.Duration
}

// Acquire implements eventsource.Lease. The lock's key is hashtextextended(name, 0) in the
// database's single advisory-lock space, so choose names that are unique in the database.
func (l AdvisoryLease) Acquire(ctx context.Context, name string) (context.Context, func(), error) {
	if l.Pool == nil {
		return nil, nil, errors.New("pgstore: advisory lease: nil Pool")
	}
	if name == "" {
		return nil, nil, errors.New("pgstore: advisory lease: empty name")
	}
	every := l.CheckEvery
	if every <= 0 {
		every = time.Second
	}
	conn, err := l.Pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("pgstore: advisory lease %q: %w", name, err)
	}
	err = eventsource.WaitForLease(ctx, every, func(ctx context.Context) (got bool, err error) {
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, name).Scan(&got)
		return got, err
	})
	if err != nil {
		conn.Release()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("pgstore: advisory lease %q: %w", name, err)
	}
	held, release := eventsource.KeepLease(ctx, every,
		func(ctx context.Context) error {
			if err := conn.Ping(ctx); err != nil {
				return fmt.Errorf("pgstore: advisory lease %q: connection lost: %w", name, err)
			}
			return nil
		},
		func(ctx context.Context) error {
			defer conn.Release()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, name); err != nil {
				// The session may still hold the lock: do not give the connection back.
				return conn.Conn().Close(ctx)
			}
			return nil
		})
	return held, release, nil
}
