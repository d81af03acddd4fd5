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
// # Following the store
//
// A [Subscription] hands events to a handler one at a time, in global order: first those
// stored (catch-up; [Subscription.CaughtUp] says when that is done), then new ones (live).
// It reads a page at a time, so a subscriber that fell far behind uses bounded memory, and
// with a [CheckpointStore] it resumes after the last event it handled.
//
// A [Relay] is the outbox: it sends events to any courier.Producer, at least once, with
// Message.ID = the event ID (consumers drop duplicates by ID on every broker), Key = the
// stream, in version order per stream. A [Lease] keeps a second relay of the same name from
// running at once; a relay that dies is succeeded by the next one to take the lease, from
// the saved checkpoint.
//
// # Typed events
//
// A [Registry] maps event type names to Go types ([Register]), encodes values with a [Codec]
// (JSON by default), upcasts old shapes of stored events ([Registry.Upcast]), and either
// fails on an unknown type with an error naming stream, version and type, or skips it and
// counts it. Package aggregate builds aggregates on it: snapshot + tail loads, appends at
// the exact version read, bounded retries on conflict.
//
// # Backends
//
// Package memstore keeps events in memory (examples, unit tests); eventsource/pgstore keeps
// them in PostgreSQL and eventsource/redisstore in Redis (each a Go module of its own, so
// that their clients stay out of builds that do not use them). Package estest is the
// acceptance suite every backend passes; run it against your own backend too.
package eventsource
