package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, name).Scan(&got); err != nil {
			conn.Release()
			return nil, nil, fmt.Errorf("pgstore: advisory lease %q: %w", name, err)
		}
		if got {
			break
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			conn.Release()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
	held, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { // checks that the connection holding the lock is alive
		defer close(watched)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-held.Done():
				return
			case <-t.C:
				if err := conn.Ping(held); err != nil {
					cancel(fmt.Errorf("pgstore: advisory lease %q: connection lost: %w", name, err))
					return
				}
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(stop)
			<-watched
			cancel(nil)
			uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer ucancel()
			if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, name); err != nil {
				// The lock may still be held by the session: do not give the connection back.
				_ = conn.Conn().Close(uctx)
			}
			conn.Release()
		})
	}
	return held, release, nil
}
