// Package dispatch is the delivery engine every courier adapter's consumer uses: it runs the
// user's handler with bounded concurrency, keeps messages of one key in order and one at a
// time, retries a failed message in place after a backoff (later messages of its key wait),
// turns a handler panic into an error, and on Close stops starting handlers, gives those in
// flight a bounded drain time, then cancels their context.
//
// The adapter owns the broker side. It feeds deliveries with Submit, in the order the broker
// gave them, and learns the fate of each through its Settler: exactly one of Ack (the handler
// returned nil) or Release (the engine will not handle it; the broker must deliver it again),
// after zero or more Retry calls (or AckAll, for a Settler that is also a BatchAcker). The
// engine does no I/O of its own. A delivery whose Revoked flag is set by the time a worker
// reaches it is released unhandled: that is how an adapter gives back, at once, the queued
// work of a partition it lost, while the handlers already running keep their context.
//
// Cost: workers take ready deliveries several at a time (about 50 microseconds of handler
// time per take, at most 64) and settle them under one lock; the queues are rings; one
// worker is woken at a time. A delivery costs 120-320 ns of engine time on a 2-vCPU machine,
// without allocations (see BenchmarkEngine).
package driver
