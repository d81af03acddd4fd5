// Package stream processes streams of messages on any courier broker: typed pipelines
// (Filter, Map, FlatMap, Branch, SelectKey, To), keyed state (Aggregate, Count) and event-time
// windows (WindowAggregate, WindowCount), in the manner of Kafka Streams.
//
// # Pipelines
//
// A [Pipeline] is built from a source, [From], which decodes each delivered message into a
// typed [Record] (the message's Key and Timestamp come along), and stages that each take a
// [Stream] and return one. A Pipeline is a courier.MessageHandler: give it to any Consumer,
// which keeps its per-key order and concurrency. A message is acknowledged once all its
// outputs were sent and all its state updates stored; an error anywhere makes it come back.
//
// Outputs of [To] get IDs derived from the pipeline's name, the input message's ID and the
// output's index ([DeriveID]): a redelivered input sends the same IDs again, so consumers
// downstream can drop the repeats (effectively-once on every broker).
//
// Building mistakes (a nil function, a nil producer, an empty topic, a table name used twice)
// are collected and reported together by [Pipeline.Validate], wrapping [ErrInvalidPipeline];
// a pipeline that does not validate refuses every message with that error.
//
// # Keyed state
//
// [Aggregate] folds records by key into a [Store]. A store applies an update and remembers
// the ID of the record it comes from in one atomic step, so a redelivered input never counts
// twice, and updates are compare-and-set on a version, so several consumers may update one key
// at once (on brokers that do not route a key to one consumer, or after SelectKey). This
// package has [MemoryStore]; stream/redisstate and stream/pgstate keep state in Redis and
// PostgreSQL, and stream/statetest is the suite every store passes.
//
// # Windows
//
// [WindowAggregate] groups records by key and by event-time window ([Windows]: tumbling or
// hopping, aligned to the Unix epoch, with a grace period) and emits each window's result
// when it closes. Records that arrive after all their windows closed are dropped, counted and
// passed to a side output.
//
// Stream time is the latest event time a window stage has seen. Courier keeps the order of one
// key's messages, not across keys: even a consumer with Concurrency 1 may hand messages of
// different keys over in another order than they were sent (and a message that failed comes
// back after later ones of other keys). Choose a grace period that covers this disorder as well
// as the producers' own; what exceeds it is dropped and counted, never silently.
package stream
