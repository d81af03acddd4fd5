// Package cqrs separates commands, queries and events on top of courier: typed buses, event
// processors and checkpointed projections, for any broker.
//
// # Commands
//
// A CommandBus sends each command to the one handler registered for its type
// (HandleCommand[C]). Without a Producer it runs the handler in process and returns its
// error; with one, SendCommand publishes the command to the bus's topic and the receiving
// service gives its own CommandBus to a courier Consumer as the handler. A command that
// implements Keyed is sent with its AggregateID as the message key, so the commands of one
// aggregate are handled one at a time, in the order they were sent, at any Concurrency.
// Types travel under their Go name (or the one Named gives) in the HeaderType header;
// payloads are JSON unless another Marshaler is set (the module
// github.com/courier-go/courier/cqrs/protomarshal has one for Protocol Buffers).
//
// # Events
//
// An EventBus publishes typed events; an EventProcessor is a handler group: one typed
// handler per event type (OnEvent[E]), sharing one consumer. An event of a type the group
// has no handler for is, by default (SkipUnknown), acknowledged, counted in Stats.Skipped
// and logged: it is never delivered again and again. RejectUnknown makes it an error
// instead (pair it with dlq.DeadLetter so that it ends in a dead-letter topic). A payload
// that cannot be decoded is an error wrapping ErrDecode, for the same pairing.
//
// # Queries
//
// A QueryBus answers typed queries in process: HandleQuery[Q, R] registers the handler of
// Q, Ask[R](ctx, bus, q) runs it.
//
// # Projections
//
// A Projection builds a read model from a Source of events in order (an event store's
// global order) with typed handlers (Project[E]). Each batch of events is applied in one
// transaction of its Store together with the projection's checkpoint, so a crash between
// applying an event and saving the checkpoint rolls both back and the event is applied once.
// Rebuild replays the whole Source into a shadow read model and swaps it in atomically;
// Status reports the last position applied, how many events the projection is behind, its
// counters and the last error of Run (a projection stuck on an event says so there).
// An event type without a handler is skipped past (SkipUnknown) or stops the projection
// (RejectUnknown). Run follows the Source; a Notifier, such as a Signal that a consumer of
// the events' broker topic sets off, wakes it as soon as events are appended.
// MemoryStore keeps read models in memory (for tests and small services); the module
// github.com/courier-go/courier/cqrs/pgprojection keeps them in PostgreSQL. Any other Store
// can be checked with cqrstest.StoreContract.
//
// # Tests
//
// Package cqrstest has what tests of code built on cqrs need: an in-memory Source,
// CommandOrder (the per-aggregate order of commands on any courier.Broker) and
// StoreContract (the Store contract, for any Store).
package cqrs
