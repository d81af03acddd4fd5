// Package eventsource defines an event store: streams of events appended with optimistic
// concurrency, read back per stream or in one global order, for services that keep their
// state as events.
//
// # Model
//
// A stream (one aggregate, say "account-42") holds events numbered 1, 2, 3... by Version.
// [Store.Append] adds events to a stream only if the stream is at the [ExpectedVersion] the
// caller names: [Any], [NoStream], [StreamExists] or [Exact](n). When it is not, Append
// returns a [*ConflictError] carrying the stream's actual version, which
// errors.Is(err, [ErrConcurrencyConflict]). An Any append never reports a conflict.
//
// Every event also has a [Position] in the store's global order, which [Store.ReadAll]
// follows. Positions are opaque: compare them with ==, order them with [Position.Compare],
// and keep them as text ([Position.MarshalText]) or bytes to resume a reader later. ReadAll
// never skips an event that becomes visible after a later one (the gap problem of
// sequence-ordered stores): each backend documents how it guarantees that.
//
// # Safe retries
//
// Appending the same event IDs again (a retry after a timeout whose outcome is unknown)
// succeeds without writing them twice when they are already the stream's events right after
// the expected version (for Any and StreamExists: anywhere in the stream, consecutively),
// and returns the result of the first append. Event IDs are unique in a store: appending an
// ID that is already stored otherwise fails with [ErrDuplicateEventID]. Give events IDs
// (UUIDs) yourself if you retry; an empty ID is filled with a new UUIDv7.
//
// # Backends
//
// Package memstore keeps events in memory (examples, unit tests); eventsource/pgstore keeps
// them in PostgreSQL and eventsource/redisstore in Redis. Package estest is the acceptance
// suite every backend passes; run it against your own backend too.
package eventsource
