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

// run hands each page of events that pass the filter (at most pageSize events, in order) to
// handle. It returns ctx's error when ctx ends, or the first error of the store or of
// handle. The filter is applied here, not by the store, so that the position moves past
// events that do not pass it: a narrow filter does not make every read scan the same
// unmatched events again.
func (f *follower) run(ctx context.Context, pos Position, handle func(ctx context.Context, page []Event) error) error {
	page := make([]Event, 0, f.pageSize)
	for {
		// Ask for a wake-up before reading, so that an append between the read and the wait
		// is not missed.
		var changed <-chan struct{}
		if n, ok := f.store.(Notifier); ok {
			changed = n.Changed()
		}
		page = page[:0]
		read, last := 0, pos
		for e, err := range f.store.ReadAll(ctx, pos, ReadAllOptions{Limit: f.pageSize}) {
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("eventsource: %s: read from %v: %w", f.what, pos, err)
			}
			read++
			last = e.Position
			if f.filter.Match(e) {
				page = append(page, e)
			}
		}
		if len(page) > 0 {
			if err := handle(ctx, page); err != nil {
				return err
			}
		}
		pos = last
		if read == f.pageSize {
			continue
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
