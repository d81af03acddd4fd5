package eventsource

import (
	"context"
	"errors"
	"sync"
	"time"
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

// WaitForLease is for Lease implementations: it calls try until it reports the lease taken,
// waiting every between attempts, and returns try's error or ctx's.
func WaitForLease(ctx context.Context, every time.Duration, try func(ctx context.Context) (bool, error)) error {
	for {
		ok, err := try(ctx)
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// KeepLease is for Lease implementations: once the lease is taken, it returns what Acquire
// returns. Every interval it calls check (renew the lease, or check the connection that
// holds it); when check fails, the context ends with check's error as its cause. release
// stops the checks, ends the context, and calls unlock once, with a context of its own
// (5 s), so that a lease is given up even after ctx ended.
func KeepLease(ctx context.Context, every time.Duration, check, unlock func(ctx context.Context) error) (held context.Context, release func()) {
	held, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-held.Done():
				return
			case <-t.C:
				if err := check(held); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	var once sync.Once
	return held, func() {
		once.Do(func() {
			close(stop)
			<-stopped
			cancel(nil)
			uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer ucancel()
			_ = unlock(uctx)
		})
	}
}
