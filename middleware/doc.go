// Package middleware holds courier.Middleware that every service wants around its handlers:
// [Recover] turns panics into errors, [Timeout] bounds a handler's time, [Logging] writes a
// line per message (never its payload, key or headers), and [Dedup] runs a handler once per
// message key even when the broker delivers the message twice.
//
// The middleware here depend on the standard library only. Those built on a library live in
// modules of their own below this directory: ratelimit (golang.org/x/time/rate), breaker
// (github.com/sony/gobreaker/v2), otelcourier (OpenTelemetry tracing and metrics), and the
// dedup stores dedupredis (Redis) and deduppg (a Store in PostgreSQL, and an inbox that
// commits in the handler's own transaction). Package deduptest checks any Store.
//
// Order matters: courier.Chain(h, a, b) runs a(b(h)). A usual order is
//
//	h = courier.Chain(h, otel, logging, recover, breaker, ratelimit, dedup, timeout)
//
// so that the trace and the log see every outcome, a panic is an error before the breaker and
// dedup see it, a message waits for the breaker and its token before it claims its key (a
// claim's lease should not run out in those waits), and the timeout covers the handler only.
//
// # Deduplication
//
// Brokers deliver at least once, so a handler can see a message twice: after a consumer
// crash, a rebalance, a lost acknowledgement, or because the producer sent it twice. [Dedup]
// claims the message's key (its ID by default) in a [Store] before the handler runs, commits
// it after the handler succeeds and releases it after the handler fails, so that a failed
// message runs again on redelivery while a handled one is acknowledged without running. A
// claim is a lease: when a consumer dies between handler and commit, the key can be claimed
// again once the lease runs out, and the message runs again (at-least-once, never lost). While
// another consumer holds the claim, Dedup returns an error wrapping [ErrInProgress]: the
// message comes back later and is then acknowledged or run, as the holder's outcome decides.
//
// A store with a commit after the handler leaves one window: effects made by a handler that
// then crashes before the commit are made again. Only keeping the dedup record in the same
// transaction as the effects closes it: deduppg does that for handlers that write to
// PostgreSQL.
//
// # Which IDs are stable across producer retries
//
// Dedup recognises a duplicate by its key, so the key must be the same on every copy of a
// message. A retry by the caller (Send failed or timed out, so Send is called again) makes a
// new message unless the caller set Message.ID: an empty ID is filled anew on every Send. Set
// Message.ID yourself (an order number, a command ID) before the first try when such retries
// must be recognised; a caller's ID travels unchanged on every broker. Copies the adapters
// themselves make:
//
//   - memory: Send never retries; every copy a consumer sees is a redelivery of one message,
//     with its one ID.
//   - RabbitMQ: Send fills the ID before publishing; when a lost connection takes a publisher
//     confirm away, the adapter publishes the message again with the same AMQP message-id,
//     so that duplicate has the same ID.
//   - Redis Streams: Send fills the ID before its XADD; a retried XADD writes a second entry
//     with the same "id" field, so the duplicate has the same ID.
//   - Kafka: the producer is idempotent (acks=all), so its own retries do not write a record
//     twice. An empty ID is not sent: consumers derive it from the record's place (topic,
//     partition, offset, timestamp), the same in every group and on every redelivery, but a
//     record written twice by two Sends has two places, hence two IDs.
//   - Pulsar: an empty ID is derived from the Pulsar message ID (ledger, entry) likewise. The
//     client republishes pending messages after a reconnect; without deduplication enabled on
//     the broker such a copy is a new entry with a new derived ID, so set Message.ID where
//     duplicates from the producer side matter.
package middleware
