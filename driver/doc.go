// Package driver is how to write a courier adapter: what an adapter needs to keep courier's
// delivery contract (the one package brokertest checks) without writing it again. Every
// adapter in this repository is built on it, and so can one outside it: package
// github.com/courier-go/courier/driver/example/logbroker is a complete adapter over an
// in-process log, written with public packages only and passing brokertest.Run under -race.
// Copy its shape; the package Example shows the same pieces in miniature.
//
// # The pieces
//
// A broker (courier.Broker) keeps its producers and consumers in an [Owned] set, so that its
// Close closes them all, side by side.
//
// A producer's Send starts with [Prepare]: it fills an empty ID (a UUIDv7) and a zero
// Timestamp, clears the delivery fields and refuses what no broker may carry, wrapping
// courier.ErrInvalidMessage. SendBatch reports the messages that failed with
// [NewBatchError]. Errors name the broker, the operation and the topic
// ("logbroker: send orders: ...").
//
// NewConsumer starts with [ConsumerConfig]: the caller's config validated, with its defaults,
// the broker's logger in place of a nil Logger. It creates the group on the broker, so that
// messages sent after NewConsumer returns are kept for it.
//
// Consume is a loop that reads from the broker and hands each message to an [Engine]:
//
//	func (c *consumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
//		ctx, finish, _, err := c.guard.Start(ctx, h) // one Consume at a time; Close ends it
//		if err != nil {
//			return err
//		}
//		defer finish(&err) // Consume returns the engine's stop error, if OnExhausted stops it
//		eng := driver.NewEngine(ctx, h, settler, driver.FromConsumerConfig("mybroker", c.cfg))
//		defer eng.Close() // drains the handlers, then releases what was not handled
//		for {
//			msgs, err := c.read(ctx) // from the broker, in its order
//			if err != nil {
//				return nil // ctx ended: Close or the caller
//			}
//			for _, m := range msgs { // m.Attempt: the broker's delivery count, 1 the first time
//				if err := eng.Submit(ctx, driver.Delivery{Msg: m, Ref: ..., Tag: ...}); err != nil {
//					// not accepted: release it, and the rest of msgs, to the broker
//					return nil
//				}
//			}
//		}
//	}
//
// The [Guard] gives the loop its context (ended by Close or by the caller's ctx) and refuses
// a second Consume, a nil handler and a closed consumer.
//
// The [Settler] is the adapter's side of the engine; it learns the fate of each delivery:
// exactly one of Ack (the handler returned nil, or OnExhausted dealt with the message) or
// Release (the engine will not handle it: the broker must deliver it to the group again),
// after zero or more Retry calls (the engine retries in place: Retry returns the delivery
// with Attempt raised, from the broker's own count where it has one, so that
// courier.ConsumerConfig.MaxAttempts holds across redeliveries). Ref and Tag carry the
// adapter's handle for settling (a channel and a delivery tag, a stream entry ID...).
//
// # What the engine does
//
// The engine runs the user's handler with bounded concurrency, keeps messages of one key in
// order and one at a time, retries a failed message in place after a backoff (later
// messages of its key wait), and, once a message's last attempt failed (MaxAttempts, or an
// error marked courier.Permanent), calls OnExhausted in its place, again after a backoff
// while it fails. It turns a handler panic into an error, and on Close stops starting
// handlers, gives those in flight a bounded drain time, then cancels their context and
// releases the rest. It does no I/O of its own.
//
// A delivery whose Revoked flag is set by the time a worker reaches it is released
// unhandled: that is how an adapter gives back, at once, the queued work of a partition it
// lost, while the handlers already running keep their context. A Settler that is also a
// [BatchAcker] acknowledges the deliveries one worker handled in a row at once.
//
// # Testing it
//
// Run brokertest.Run with a Harness that makes a broker, and declare the Capabilities the
// broker has (replay of old messages, nil values, size limit, how far per-key order
// reaches); brokertest.Bench measures it.
//
// Cost: workers take ready deliveries several at a time (about 50 microseconds of handler
// time per take, at most 64) and settle them under one lock; the queues are rings; one
// worker is woken at a time. A delivery costs 120-320 ns of engine time on a 2-vCPU machine,
// without allocations (see BenchmarkEngine).
package driver
