package eventsource

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Store is an event store. Implementations are safe for concurrent use.
type Store interface {
	// Append adds events, in order, to the end of stream if the stream is at the expected
	// version; otherwise it returns a *ConflictError. All events are stored or none.
	// Appending the same event IDs again is a safe retry (see the package documentation).
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// ReadStream yields the events of one stream in version order (or the reverse, with
	// Backward). A stream with no events yields nothing. An error ends the sequence.
	ReadStream(ctx context.Context, stream string, opts ReadOptions) iter.Seq2[Event, error]
	// ReadAll yields the events after position from, in the store's global order, that
	// match opts.Filter, up to what is visible now, then ends: call it again from the last
	// position to follow the store. It never skips an event that becomes visible later. An
	// error ends the sequence.
	ReadAll(ctx context.Context, from Position, opts ReadAllOptions) iter.Seq2[Event, error]
	// Close releases the store; calls after it return ErrClosed. It is idempotent.
	Close() error
}

// Direction is the order ReadStream yields events in.
type Direction uint8

// The directions.
const (
	Forward  Direction = iota // oldest first
	Backward                  // newest first
)

// ReadOptions selects what ReadStream yields. The zero value reads the whole stream forward.
type ReadOptions struct {
	Direction Direction
	// From is the first version to yield: forward, versions >= From (0 means from the
	// start); backward, versions <= From (0 means from the end).
	From int64
	// Limit is the most events to yield; 0 means no limit.
	Limit int
}

// Filter selects events for ReadAll. The zero value selects every event.
type Filter struct {
	StreamPrefix string   // only streams whose name starts with it
	Types        []string // only these event types; empty means every type
}

// Match reports whether e passes f.
func (f Filter) Match(e Event) bool {
	return f.MatchStreamType(e.Stream, e.Type)
}

// MatchStreamType reports whether an event of this stream and type passes f.
func (f Filter) MatchStreamType(stream, typ string) bool {
	if !strings.HasPrefix(stream, f.StreamPrefix) {
		return false
	}
	return len(f.Types) == 0 || slices.Contains(f.Types, typ)
}

// ReadAllOptions selects what ReadAll yields. The zero value yields every visible event.
type ReadAllOptions struct {
	Filter Filter
	Limit  int // the most events to yield; 0 means no limit
}

// Collect reads a whole sequence into a slice, stopping at the first error.
func Collect(seq iter.Seq2[Event, error]) ([]Event, error) {
	var out []Event
	for e, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Notifier is implemented by stores that can tell a reader that new events may be visible,
// so that followers (subscriptions, the outbox relay) wake up at once instead of at their
// next poll.
type Notifier interface {
	// Changed returns a channel that is closed when events may have been appended since
	// the call (and at Close).
	Changed() <-chan struct{}
}

// PageFunc returns the next page of a read, at most max events, and whether it was the last.
type PageFunc func(max int) (page []Event, done bool, err error)

// Pages turns paged reads into the sequence a Store's reads return. Each iteration calls
// start for a new PageFunc (so the sequence can be iterated again from the beginning), then
// calls it for page after page, yielding their events, until it reports done, an error, ctx
// ends, or limit events were yielded (0: no limit); each page may hold at most pageSize
// events. Errors are prefixed with what ("memstore: read stream \"x\""). It is for backends.
func Pages(ctx context.Context, what string, limit, pageSize int, start func() PageFunc) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		next := start()
		if limit < 0 {
			yield(Event{}, fmt.Errorf("%w: %s: negative limit %d", ErrInvalidEvent, what, limit))
			return
		}
		left := limit
		for {
			if err := ctx.Err(); err != nil {
				yield(Event{}, fmt.Errorf("%s: %w", what, err))
				return
			}
			n := pageSize
			if limit > 0 {
				n = min(n, left)
			}
			page, done, err := next(n)
			if err != nil {
				yield(Event{}, fmt.Errorf("%s: %w", what, err))
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if limit > 0 {
				if left -= len(page); left <= 0 {
					return
				}
			}
			if done {
				return
			}
		}
	}
}

// Validate says what is wrong with o: an unknown direction or a negative limit.
func (o ReadOptions) Validate() error {
	if o.Direction != Forward && o.Direction != Backward {
		return fmt.Errorf("%w: read stream: unknown direction %d", ErrInvalidEvent, o.Direction)
	}
	if o.Limit < 0 {
		return fmt.Errorf("%w: read stream: negative limit %d", ErrInvalidEvent, o.Limit)
	}
	return nil
}

// ReadError returns a sequence that yields only err: what a Store's read returns when it
// cannot start. It is for backends.
func ReadError(err error) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) { yield(Event{}, err) }
}
