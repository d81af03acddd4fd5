package eventsource

import "fmt"

// ExpectedVersion is what an append requires of the stream: see [Any], [NoStream],
// [StreamExists] and [Exact]. The zero value is Any.
type ExpectedVersion struct {
	kind    expectKind
	version int64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectExact
)

var (
	// Any appends whatever the stream's version; it never conflicts.
	Any = ExpectedVersion{kind: expectAny}
	// NoStream appends only to a stream that has no events yet.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists appends only to a stream that has at least one event.
	StreamExists = ExpectedVersion{kind: expectExists}
)

// Exact appends only if the stream's version (its last event's version) is n. Exact(0) is
// the same as NoStream. A negative n is refused by Append as invalid.
func Exact(n int64) ExpectedVersion {
	if n == 0 {
		return NoStream
	}
	return ExpectedVersion{kind: expectExact, version: n}
}

// Version returns n for Exact(n), 0 for NoStream, and false for Any and StreamExists.
func (e ExpectedVersion) Version() (int64, bool) {
	switch e.kind {
	case expectExact:
		return e.version, true
	case expectNoStream:
		return 0, true
	}
	return 0, false
}

// IsAny reports whether e is Any.
func (e ExpectedVersion) IsAny() bool { return e.kind == expectAny }

// IsStreamExists reports whether e is StreamExists.
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == expectExists }

// Allows reports whether an append at e may go to a stream whose version is actual
// (0 for a stream with no events).
func (e ExpectedVersion) Allows(actual int64) bool {
	switch e.kind {
	case expectNoStream:
		return actual == 0
	case expectExists:
		return actual > 0
	case expectExact:
		return actual == e.version
	}
	return true
}

// String returns "any", "no stream", "stream exists" or the version number.
func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectAny:
		return "any"
	case expectNoStream:
		return "no stream"
	case expectExists:
		return "stream exists"
	}
	return fmt.Sprint(e.version)
}

func (e ExpectedVersion) validate() error {
	if e.kind == expectExact && e.version < 0 {
		return fmt.Errorf("expected version %d is negative", e.version)
	}
	if e.kind > expectExact {
		return fmt.Errorf("unknown expected version kind %d", e.kind)
	}
	return nil
}
