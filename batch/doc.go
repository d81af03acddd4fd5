// Package batch batches messages on both sides of a broker, for any adapter.
//
// # Producer side
//
// [Producer] wraps any courier.Producer and is itself one. Concurrent Send calls share
// batches, which go to the inner producer's SendBatch when the first of three limits is met:
// Config.MaxMessages messages, Config.MaxBytes bytes (courier.Message.Size), or Config.Linger
// after the batch's first message. Each Send returns the result of the batch that carried its
// message, so a broker error reaches the caller that sent the message, and nothing is dropped
// silently. Because Send waits, one goroutine sending in a loop gets no batching (each of its
// messages waits out the linger alone): batching pays off with many concurrent senders, which
// is how servers send (one Send per request). For the same reason, keep MaxMessages at or
// below the number of concurrent senders, or Linger short: once every sender waits in a
// batch, nothing else can fill it, and it waits out the linger. Batching pays where a send
// costs a network round trip (see the benchmarks in package integration); on the in-process
// memory broker, whose Send costs about a microsecond, it only adds overhead.
//
// At most Config.MaxPending messages are accepted and not yet settled; beyond that Send blocks
// until there is room or its context ends (backpressure). A Send whose context ends while its
// message still waits in a batch takes the message out again: it returns the context's error
// and the message is never sent. If the batch had already been handed to the inner producer,
// the message may or may not reach the broker: Send returns an error wrapping both
// [ErrOutcomeUnknown] and the context's error.
//
// Batches are sent one at a time, in the order they were filled, by one flusher goroutine,
// without holding any lock; so the messages of one sender keep their order.
//
// # Consumer side
//
// Prefer the consumer's own batches: give Consume a courier.BatchHandler and set
// courier.ConsumerConfig.BatchSize. The engine then hands it up to BatchSize ready messages
// per call, whatever the Concurrency, keeps per-key order, and retries alone the messages a
// *courier.BatchError names, with no goroutine waiting per message. What follows is the older
// way, which works under any handler chain but is bounded by Concurrency.
//
// [Handler] turns a [BatchHandler] into a courier.MessageHandler for any Consumer. Each
// delivery's HandleMessage call waits until the batch that holds its message has been handled,
// and returns nil (acknowledging the message) only if the batch succeeded; otherwise it
// returns the batch's error and the message comes back. A [*PartialError] from HandleBatch
// says which messages failed: only those come back.
//
// Batch size and Concurrency: a consumer runs at most ConsumerConfig.Concurrency handler calls
// at once, and each call here waits for its batch, so a batch never holds more than
// Concurrency messages. HandlerConfig.MaxSize must therefore be at most Concurrency
// ([HandlerConfig.CheckConsumer] says so); with MaxSize == Concurrency a full batch forms as
// soon as the consumer is saturated, and a smaller one after HandlerConfig.MaxWait.
//
// Per-key order: the consumer hands messages of one key to the handler one at a time, the next
// only after the previous call returned. So a batch holds at most one message of each key, and
// the messages of a key go into successive batches, in order. Messages without a key fill
// batches freely.
package batch
