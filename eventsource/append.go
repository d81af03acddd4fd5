package eventsource

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/courier-go/courier"
)

// DefaultMaxEventSize is the largest event (EventData.Size) the stores of this module accept
// unless configured otherwise: 1 MiB.
const DefaultMaxEventSize = 1 << 20

// PrepareAppend checks an append for the mistakes every store refuses (an empty stream, no
// events, an empty type, an ID given twice, a negative expected version, a stream name, type
// or ID that is not valid UTF-8, holds a NUL byte or is over 1,000 bytes, an event larger
// than maxSize when maxSize > 0) and returns the events with empty IDs filled with new UUIDv7s
// (in a new slice; the caller's is left alone). Errors wrap ErrInvalidEvent or
// ErrEventTooLarge and name the stream and the event. It is for backends.
func PrepareAppend(stream string, expected ExpectedVersion, events []EventData, maxSize int) ([]EventData, error) {
	if stream == "" {
		return nil, fmt.Errorf("%w: empty stream name", ErrInvalidEvent)
	}
	if err := checkName("stream name", stream); err != nil {
		return nil, err
	}
	if err := expected.validate(); err != nil {
		return nil, fmt.Errorf("%w: stream %q: %w", ErrInvalidEvent, stream, err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: stream %q: no events to append", ErrInvalidEvent, stream)
	}
	out := make([]EventData, len(events))
	var now time.Time
	var seen map[string]int // for large batches; small ones are checked pairwise
	if len(events) > 16 {
		seen = make(map[string]int, len(events))
	}
	for i, e := range events {
		if e.Type == "" {
			return nil, fmt.Errorf("%w: stream %q: event %d (ID %q) has an empty type", ErrInvalidEvent, stream, i, e.ID)
		}
		if err := checkName("type", e.Type); err != nil {
			return nil, fmt.Errorf("stream %q: event %d: %w", stream, i, err)
		}
		if err := checkName("ID", e.ID); err != nil {
			return nil, fmt.Errorf("stream %q: event %d: %w", stream, i, err)
		}
		if e.ID == "" {
			if now.IsZero() {
				now = time.Now()
			}
			e.ID = courier.NewID(now)
		}
		j, dup := -1, false
		if seen != nil {
			j, dup = seen[e.ID]
			seen[e.ID] = i
		} else {
			j = slices.IndexFunc(out[:i], func(o EventData) bool { return o.ID == e.ID })
			dup = j >= 0
		}
		if dup {
			return nil, fmt.Errorf("%w: stream %q: events %d and %d have the same ID %q", ErrInvalidEvent, stream, j, i, e.ID)
		}
		if size := e.Size(); maxSize > 0 && size > maxSize {
			return nil, fmt.Errorf("%w: stream %q: event %d (type %q, ID %q) is %d bytes, more than %d",
				ErrEventTooLarge, stream, i, e.Type, e.ID, size, maxSize)
		}
		out[i] = e
	}
	return out, nil
}

// checkName refuses what not every store and broker can keep in a name: invalid UTF-8 and
// NUL bytes (PostgreSQL text), and names over 1,000 bytes.
func checkName(what, s string) error {
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalidEvent, what, s)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%w: %s %q contains a NUL byte", ErrInvalidEvent, what, s)
	case len(s) > maxNameLen:
		return fmt.Errorf("%w: %s %.40q... is %d bytes, more than %d", ErrInvalidEvent, what, s, len(s), maxNameLen)
	}
	return nil
}

// maxNameLen is the longest stream name, type or ID, in bytes.
const maxNameLen = 1000

// IsRetry reports whether an append of events at expected repeats one already stored: the
// stream holds events with the same IDs at consecutive versions starting at firstVersion
// (storedIDs are the IDs of the stream's events from firstVersion on, as many as there are
// up to len(events)), and expected allowed an append at firstVersion-1. It is for backends,
// which look up where the first event's ID is stored and call it before reporting a conflict
// or a duplicate ID.
func IsRetry(expected ExpectedVersion, events []EventData, firstVersion int64, storedIDs []string) bool {
	if len(storedIDs) < len(events) || firstVersion < 1 || !expected.Allows(firstVersion-1) {
		return false
	}
	for i, e := range events {
		if storedIDs[i] != e.ID {
			return false
		}
	}
	return true
}
