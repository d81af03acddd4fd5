package eventsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/courier-go/courier"
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
	// A failed read is tried again after backoff (logged to log), except ErrClosed, an
	// invalid position or read (ErrInvalidEvent), which end run.
	backoff courier.Backoff
	log     *slog.Logger
}

// run hands each page of events that pass the filter (at most pageSize events, in order) to
// handle. It returns ctx's error when ctx ends, handle's first error, or a store error that
// trying again cannot mend. The filter is applied here, not by the store, so that the position moves past
// events that do not pass it: a narrow filter does not make every read scan the same
// unmatched events again.
func (f *follower) run(ctx context.Context, pos Position, handle func(ctx context.Context, page []Event) error) error {
	page := make([]Event, 0, f.pageSize)
	failures := 0
	for {
		// Ask for a wake-up before reading, so that an append between the read and the wait
		// is not missed.
		var changed <-chan struct{}
		if n, ok := f.store.(Notifier); ok {
			changed = n.Changed()
		}
		page = page[:0]
		read, last := 0, pos
		var readErr error
		for e, err := range f.store.ReadAll(ctx, pos, ReadAllOptions{Limit: f.pageSize}) {
			if err != nil {
				readErr = err
				break
			}
			read++
			last = e.Position
			if f.filter.Match(e) {
				page = append(page, e)
			}
		}
		if readErr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			err := fmt.Errorf("eventsource: %s: read from %v: %w", f.what, pos, readErr)
			if errors.Is(readErr, ErrClosed) || errors.Is(readErr, ErrInvalidEvent) {
				return err
			}
			// The events read before the failure are read again: nothing was handled yet.
			failures++
			delay := f.backoff.Delay(failures)
			f.log.Warn("eventsource: read failed; will retry", "reader", f.what, "attempt", failures, "retry_in", delay, "error", readErr)
			if err := sleep(ctx, delay); err != nil {
				return err
			}
			continue
		}
		failures = 0
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

// sleep waits for d, or returns ctx's error when it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
