// Package memstore is an eventsource.Store in memory: the embedded default for examples and
// for users' unit tests. Nothing survives the process. It keeps every event, and its global
// order is the order of appends, so ReadAll has no gaps to worry about.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/courier-go/courier/eventsource"
)

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// MaxEventSize is the largest event (EventData.Size) Append accepts; 0 means
	// eventsource.DefaultMaxEventSize, negative means no limit.
	MaxEventSize int
	// Now is the clock that stamps events; nil means time.Now.
	Now func() time.Time
}

// Validate says what is wrong with cfg; the zero value is valid.
func (cfg Config) Validate() error { return nil }

// Store is an in-memory event store. Create it with New.
type Store struct {
	maxSize int
	now     func() time.Time

	mu      sync.RWMutex
	segs    [][]eventsource.Event // the global order, in segments of segSize (no copying as it grows)
	n       int                   // events in segs; an event's position minor part is its index+1
	streams map[string]*[]int     // stream -> indexes into the log, by version
	ids     idIndex               // event ID -> index into the log
	closed  bool
	changed chan struct{} // closed at the next append when a reader asked for it; nil otherwise
}

// readChunk is how many events a read copies under the lock at a time.
const readChunk = 256

// segSize is the number of events in a segment of the log.
const segSize = 1 << 12

// idAt returns the ID of the event at log index i.
func (s *Store) idAt(i int) string { return s.at(i).ID }

// at returns the event at log index i.
func (s *Store) at(i int) *eventsource.Event { return &s.segs[i/segSize][i%segSize] }

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.MaxEventSize == 0 {
		cfg.MaxEventSize = eventsource.DefaultMaxEventSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{
		maxSize: cfg.MaxEventSize,
		now:     cfg.Now,
		streams: map[string]*[]int{},
		ids:     newIDIndex(),
	}
}

// Append implements eventsource.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventsource.AppendResult{}, fmt.Errorf("memstore: append to stream %q: %w", stream, err)
	}
	events, err := eventsource.PrepareAppend(stream, expected, events, s.maxSize)
	if err != nil {
		return eventsource.AppendResult{}, err
	}
	now := s.now().Round(0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventsource.AppendResult{}, eventsource.ErrClosed
	}
	idx := s.streams[stream]
	if idx == nil {
		idx = new([]int)
	}
	dup, dupAt := -1, 0 // the first event whose ID is stored, and where
	slots := make([]idSlot, 0, 1)
	for i, e := range events {
		at, ok, slot := s.ids.get(e.ID, s.idAt)
		if ok {
			dup, dupAt = i, at
			break
		}
		slots = append(slots, slot)
	}
	if dup == 0 {
		if r, ok := s.retried(expected, events, dupAt); ok {
			return r, nil
		}
	}
	actual := int64(len(*idx))
	if !expected.Allows(actual) {
		return eventsource.AppendResult{}, &eventsource.ConflictError{Stream: stream, Expected: expected, Actual: actual}
	}
	if dup >= 0 {
		return eventsource.AppendResult{}, fmt.Errorf("%w: stream %q: event ID %q is already stored as version %d of stream %q",
			eventsource.ErrDuplicateEventID, stream, events[dup].ID, s.at(dupAt).Version, s.at(dupAt).Stream)
	}
	for k, e := range events {
		i := s.n
		actual++
		if i%segSize == 0 {
			s.segs = append(s.segs, make([]eventsource.Event, segSize))
		}
		s.n++
		*s.at(i) = eventsource.Event{
			ID:       e.ID,
			Stream:   stream,
			Type:     e.Type,
			Version:  actual,
			Position: eventsource.NewPosition(0, uint64(i+1)),
			Data:     bytes.Clone(e.Data),
			Metadata: maps.Clone(e.Metadata),
			Time:     now,
		}
		*idx = append(*idx, i)
		s.ids.put(e.ID, slots[k], i, len(events) > 1)
	}
	if len(*idx) == len(events) {
		s.streams[stream] = idx
	}
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	last := s.at(s.n - 1)
	return eventsource.AppendResult{Version: last.Version, Position: last.Position}, nil
}

// retried reports whether events repeat the ones stored from log index at on.
func (s *Store) retried(expected eventsource.ExpectedVersion, events []eventsource.EventData, at int) (eventsource.AppendResult, bool) {
	first := s.at(at)
	idx := *s.streams[first.Stream]
	stored := make([]string, 0, len(events))
	for v := first.Version; v <= int64(len(idx)) && len(stored) < len(events); v++ {
		stored = append(stored, s.at(idx[v-1]).ID)
	}
	if !eventsource.IsRetry(expected, events, first.Version, stored) {
		return eventsource.AppendResult{}, false
	}
	last := s.at(idx[first.Version-1+int64(len(events))-1])
	return eventsource.AppendResult{Version: last.Version, Position: last.Position}, true
}

// ReadStream implements eventsource.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventsource.ReadOptions) iter.Seq2[eventsource.Event, error] {
	if err := opts.Validate(); err != nil {
		return eventsource.ReadError(fmt.Errorf("memstore: stream %q: %w", stream, err))
	}
	return eventsource.Pages(ctx, fmt.Sprintf("memstore: read stream %q", stream), opts.Limit, readChunk, func() eventsource.PageFunc {
		next := opts.From // the next version to yield
		if next < 1 {
			next = 1
			if opts.Direction == eventsource.Backward {
				next = math.MaxInt64
			}
		}
		return func(n int) ([]eventsource.Event, bool, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			if s.closed {
				return nil, true, eventsource.ErrClosed
			}
			var idx []int
			if p := s.streams[stream]; p != nil {
				idx = *p
			}
			var out []eventsource.Event
			if opts.Direction == eventsource.Backward {
				next = min(next, int64(len(idx)))
				for ; next >= 1 && len(out) < n; next-- {
					out = append(out, s.copyOf(idx[next-1]))
				}
				return out, next < 1, nil
			}
			for ; next <= int64(len(idx)) && len(out) < n; next++ {
				out = append(out, s.copyOf(idx[next-1]))
			}
			return out, next > int64(len(idx)), nil
		}
	})
}

// copyOf returns the event at log index i, with its own copy of Data and Metadata.
func (s *Store) copyOf(i int) eventsource.Event {
	e := *s.at(i)
	e.Data = bytes.Clone(e.Data)
	e.Metadata = maps.Clone(e.Metadata)
	return e
}

// ReadAll implements eventsource.Store.
func (s *Store) ReadAll(ctx context.Context, from eventsource.Position, opts eventsource.ReadAllOptions) iter.Seq2[eventsource.Event, error] {
	if major, _ := from.Parts(); major != 0 {
		return eventsource.ReadError(fmt.Errorf("%w: position %v was not made by a memstore", eventsource.ErrInvalidEvent, from))
	}
	return eventsource.Pages(ctx, "memstore: read all", opts.Limit, readChunk, func() eventsource.PageFunc {
		_, next := from.Parts() // the log index to look at next
		return func(n int) ([]eventsource.Event, bool, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			if s.closed {
				return nil, true, eventsource.ErrClosed
			}
			// Look at up to 16 pages' worth, so that a narrow filter does not hold the lock long.
			var out []eventsource.Event
			for end := min(uint64(s.n), next+16*readChunk); next < end && len(out) < n; next++ {
				if opts.Filter.Match(*s.at(int(next))) {
					out = append(out, s.copyOf(int(next)))
				}
			}
			return out, next >= uint64(s.n), nil
		}
	})
}

// Changed returns a channel that is closed at the next append, so that a reader that has
// seen everything can wait for more instead of polling. It implements eventsource.Notifier.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
		if s.closed {
			close(s.changed)
			ch := s.changed
			s.changed = nil
			return ch
		}
	}
	return s.changed
}

// Close implements eventsource.Store; it drops the events.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.segs, s.n, s.streams, s.ids = nil, 0, nil, idIndex{}
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return nil
}
