package eventsource

import (
	"context"
	"fmt"
	"time"
)

// follower reads a store from a position on, page by page, for ever: the loop that
// subscriptions and the outbox relay share.
type follower struct {
	what     string // for errors: `subscription "x"`
	store    Store
	filter   Filter
	pageSize int
	poll     time.Duration
	atHead   func() // called each time a read reaches the end of what is visible
}

// run hands each page (at most pageSize events, in order) to handle, which returns the
// position to read on from. It returns ctx's error when ctx ends, or the first error of
// the store or of handle.
func (f *follower) run(ctx context.Context, pos Position, handle func(ctx context.Context, page []Event) (Position, error)) error {
	page := make([]Event, 0, f.pageSize)
	for {
		// Ask for a wake-up before reading, so that an append between the read and the wait
		// is not missed.
		var changed <-chan struct{}
		if n, ok := f.store.(Notifier); ok {
			changed = n.Changed()
		}
		page = page[:0]
		for e, err := range f.store.ReadAll(ctx, pos, ReadAllOptions{Filter: f.filter, Limit: f.pageSize}) {
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("eventsource: %s: read from %v: %w", f.what, pos, err)
			}
			page = append(page, e)
		}
		if len(page) > 0 {
			next, err := handle(ctx, page)
			if err != nil {
				return err
			}
			pos = next
			if len(page) == f.pageSize {
				continue
			}
		}
		if f.atHead != nil {
			f.atHead()
		}
		timer := time.NewTimer(f.poll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}
