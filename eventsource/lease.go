package eventsource

import (
	"context"
	"errors"
	"sync"
)

// Lease lets one holder at a time do a named job: one active outbox relay per name.
// pgstore.AdvisoryLease is one across processes (a PostgreSQL advisory lock); LocalLease
// works within one process.
type Lease interface {
	// Acquire blocks until the caller holds the lease called name, or ctx ends. The returned
	// context ends when the lease is lost (the connection holding it broke, say) or ctx
	// ends; release gives the lease up and must be called once.
	Acquire(ctx context.Context, name string) (held context.Context, release func(), err error)
}

// LocalLease is a Lease within one process. The zero value is ready to use.
type LocalLease struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when released
}

// Acquire implements Lease.
func (l *LocalLease) Acquire(ctx context.Context, name string) (context.Context, func(), error) {
	if name == "" {
		return nil, nil, errors.New("eventsource: lease: empty name")
	}
	for {
		l.mu.Lock()
		if l.held == nil {
			l.held = map[string]chan struct{}{}
		}
		busy, ok := l.held[name]
		if !ok {
			done := make(chan struct{})
			l.held[name] = done
			l.mu.Unlock()
			held, cancel := context.WithCancel(ctx)
			var once sync.Once
			return held, func() {
				once.Do(func() {
					cancel()
					l.mu.Lock()
					delete(l.held, name)
					l.mu.Unlock()
					close(done)
				})
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}
