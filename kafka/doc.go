// Package kafka is courier's Apache Kafka adapter, built on github.com/IBM/sarama.
//
// Import it for its side effect to make "kafka://host1:9092,host2:9092" URLs work with
// courier.Open, or call New with a full Config (ParseURL makes one from a URL), or
// NewWithClient with a sarama.Client of your own, which the Broker never closes. Broker.As
// reaches the client (and an admin client on it) for the calls courier does not cover:
//
//	var c sarama.Client
//	if b.As(&c) { parts, err := c.Partitions("orders") }
//
// A consumer's As hands out its sarama.ConsumerGroup the same way (see Broker.NewConsumer).
//
// Logs: the Broker's Config.Logger receives its producers' and consumers' logs (a consumer's
// courier.ConsumerConfig.Logger takes its place for that consumer). Sarama's own logs go to
// its process-wide sarama.Logger, which this package points at slog.Default(), at Debug
// level, unless the program sets sarama.Logger itself.
//
// Failures: New retries until a broker answers, logging each failure, for at most
// Config.ConnectTimeout (URL parameter connect_timeout; default 10s) whatever its context's
// deadline; its error names the brokers and the cause, and wraps courier.ErrAuthentication
// when the SASL credentials are refused.
//
// Producing: the producer is idempotent with acks=all, compresses with snappy by default,
// and chooses the partition of a keyed message with murmur2 exactly as the Java client's
// default partitioner does, so Go and Java producers put a key on the same partition.
// Headers travel as record headers. A message ID given by the caller travels in a reserved
// header ("courier-uuid", its 16 bytes, for a canonical lowercase UUID; "courier-id", as
// text, for any other). An ID left empty is not sent at all: the consumer derives a UUIDv7
// from the record itself (its timestamp, topic, partition and offset), the same in every
// group and on every delivery, unique within a partition - as good an ID as one made at
// Send, without 16 random bytes on every record. Records of other producers get their ID
// the same way. The nanoseconds of the timestamp below the millisecond travel in a header
// too ("courier-ns"; a record timestamp has millisecond precision, so this is what
// makes a Timestamp given by the caller round-trip exactly; Send fills an empty one at
// millisecond precision). Concurrent Sends share wire batches: every Send goes through one
// asynchronous sarama producer and waits for its own record's acknowledgement.
//
// Consuming: a Consumer is a member of a sarama consumer group. The records of all its
// partitions feed courier's shared dispatch engine, so Concurrency > 1 runs different keys
// of one partition in parallel while messages of one key run one at a time, in order. An
// offset is committed only once every earlier offset of its partition has been handled: a
// partition never commits past a message that was not. A handler error brings the message
// back in place after the backoff with Attempt+1 (counted by the adapter; Kafka has no
// delivery count). When a partition is revoked, its records still queued go back at once,
// its running handlers get ConsumerConfig.DrainTimeout to finish before their context is
// cancelled, and what they finished is committed before the partition is given up. A
// consumer holds up to 1024 fetched records not yet handled, and no more than 64 MiB of
// their values and keys (besides sarama's channel of 256 records per partition); offsets are marked for the periodic commit every 64 handled records
// of a partition, and at once when none of its records is in flight.
//
// Start position: a group that never committed starts at the oldest record with
// StartOldest (so Kafka replays what was sent before the group existed). With StartNewest,
// NewConsumer commits the current end of each partition for the group, so that a message
// sent after NewConsumer returns is delivered even if Consume starts later (sarama alone
// would resolve "newest" only when the member joins).
//
// Topics: NewConsumer fails, naming the topic, for a topic the cluster does not have, and
// Send fails for one; with Config.CreateTopics they are created on first use instead
// (CreateTopic creates one explicitly). The client never asks the broker to auto-create a
// topic as a side effect of a metadata request.
//
// Capabilities for brokertest: Replay (StartOldest reads from the start), NilValue (a nil
// Value is a null record value, an empty one an empty value), MaxMessageBytes
// (Config.MaxMessageBytes, checked before sending).
package kafka
