// Package dispatch is the delivery engine every courier adapter's consumer uses: it runs the
// user's handler with bounded concurrency, keeps messages of one key in order and one at a
// time, retries a failed message in place after a backoff (later messages of its key wait),
// turns a handler panic into an error, and on Close stops starting handlers, gives those in
// flight a bounded drain time, then cancels their context.
//
// The adapter owns the broker side. It feeds deliveries with Submit, in the order the broker
// gave them, and learns the fate of each through its Settler: exactly one of Ack (the handler
// returned nil) or Release (the engine will not handle it; the broker must deliver it again),
// after zero or more Retry calls. The engine does no I/O of its own.
package dispatch
