// Package courier is one small interface for producing and consuming messages on Kafka,
// RabbitMQ, Redis Streams, Apache Pulsar and an embedded in-memory broker.
//
// A service opens a [Broker] from a URL, sends with a [Producer] and receives with a
// [Consumer]. Adapters register their URL scheme when imported, as database/sql drivers do:
//
//	import _ "github.com/courier-go/courier/memory"
//
//	b, err := courier.Open(ctx, "memory://")
//
// # Delivery contract
//
// Every adapter keeps the same contract, checked by the conformance suite in package
// brokertest:
//
//   - At-least-once: a message is acknowledged to the broker only after its handler returned
//     nil. A handler error brings it back with Attempt+1 after a backoff; duplicates are
//     possible, loss is not.
//   - Ordering: messages with the same Key reach the handler one at a time, in the order they
//     were sent, even with Concurrency > 1. A message being retried keeps its place: later
//     messages of its key wait for it.
//   - Retries have one place, the consumer: ConsumerConfig.MaxAttempts bounds them (Attempt
//     is the broker's own delivery count where it has one, so the bound holds across
//     redeliveries), and ConsumerConfig.OnExhausted decides what becomes of a message whose
//     last attempt failed, or whose error was marked with Permanent: dropped with a log
//     (DropExhausted, the default), dead-lettered (package dlq), or the consumer stopped
//     (StopConsumer). It runs in the message's place, and nothing is acknowledged before it
//     returned nil.
//   - Groups: every group receives every message of its topics; consumers in one group share
//     them. A group created (by NewConsumer) before a message is sent receives it.
//   - ID, Key, Headers and Timestamp round-trip unchanged; Value is byte-exact.
//   - Close and context cancellation end Consume promptly, with no goroutine left behind.
package courier
