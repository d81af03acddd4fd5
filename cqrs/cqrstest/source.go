package cqrstest

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"time"

	"github.com/courier-go/courier/cqrs"
)

// Source is an in-memory cqrs.Source, cqrs.Notifier and cqrs.Counter for tests: events in the order they
// were appended, at positions "0000000000000001", "0000000000000002"... It is safe for
// concurrent use.
type Source struct {
	mu      sync.Mutex
	events  []cqrs.Event
	changed chan struct{}
}

// NewSource returns an empty Source.
func NewSource() *Source { return &Source{changed: make(chan struct{})} }

// Append adds an event of type typ to stream, with v encoded as JSON (v must encode), at
// the stream's next version, and returns it.
func (s *Source) Append(stream, typ string, v any) cqrs.Event {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cqrstest: Append %s: %v", typ, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	version := int64(1)
	for _, e := range s.events {
		if e.Stream == stream {
			version++
		}
	}
	n := len(s.events) + 1
	ev := cqrs.Event{ID: fmt.Sprintf("e%d", n), Stream: stream, Type: typ, Version: version,
		Position: fmt.Sprintf("%016d", n), Data: data, Time: time.Now()}
	s.events = append(s.events, ev)
	close(s.changed)
	s.changed = make(chan struct{})
	return ev
}

// Changed returns a channel closed at the next Append.
func (s *Source) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Read yields the events after position after.
func (s *Source) Read(ctx context.Context, after string) iter.Seq2[cqrs.Event, error] {
	return func(yield func(cqrs.Event, error) bool) {
		from, err := parsePosition(after)
		if err != nil {
			yield(cqrs.Event{}, err)
			return
		}
		s.mu.Lock()
		visible := s.events[min(from, len(s.events)):]
		s.mu.Unlock()
		for _, e := range visible {
			if err := ctx.Err(); err != nil {
				yield(cqrs.Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// CountAfter returns how many events there are after position after.
func (s *Source) CountAfter(_ context.Context, after string) (int64, error) {
	from, err := parsePosition(after)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.events) - min(from, len(s.events))), nil
}

func parsePosition(p string) (int, error) {
	if p == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("cqrstest: bad position %q", p)
	}
	return n, nil
}

// Events returns every event appended so far.
func (s *Source) Events() []cqrs.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]cqrs.Event(nil), s.events...)
}
