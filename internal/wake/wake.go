// Package wake is a broadcast that goroutines wait for under the caller's mutex, giving up
// when their context ends: what a sync.Cond would be if its Wait could be cancelled.
package wake

import (
	"context"
	"errors"
	"sync"
)

// ErrStopped is what Wait returns when its stop channel is closed.
var ErrStopped = errors.New("wake: stopped")

// Signal wakes every goroutine waiting for it. The zero value is ready to use; the caller's
// mutex guards it, and every method is called with that mutex held.
type Signal struct {
	ch chan struct{} // closed by Broadcast; nil while nobody waits
}

// Wait releases mu and waits for Broadcast, for ctx to end, or for stop (which may be nil)
// to be closed. Woken by Broadcast it takes mu again and returns nil; otherwise it returns
// ctx's error or ErrStopped with mu released. Callers check their condition again after a
// nil return: a Broadcast means "look again", not "it holds".
func (s *Signal) Wait(ctx context.Context, mu *sync.Mutex, stop <-chan struct{}) error {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	ch := s.ch
	mu.Unlock()
	select {
	case <-ch:
		mu.Lock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrStopped
	}
}

// Waiting reports whether a goroutine waits (or waited since the last Broadcast).
func (s *Signal) Waiting() bool { return s.ch != nil }

// Broadcast wakes every goroutine waiting.
func (s *Signal) Broadcast() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
