// Package rabbitmq is courier's adapter for RabbitMQ, on github.com/rabbitmq/amqp091-go.
// Importing it registers the amqp:// and amqps:// URL schemes with courier.Open:
//
//	import _ "github.com/courier-go/courier/rabbitmq"
//
//	b, err := courier.Open(ctx, "amqp://guest:guest@localhost:5672/?queue_type=quorum")
//
// or call New with a Config for every setting (ParseURL makes one from a URL). There is no
// constructor on a connection of your own: the Broker redials its connections when they
// drop, which a caller's *amqp.Connection cannot do (see New). Broker.As hands out the live
// connection for calls courier does not cover; Broker.Producer and Broker.Consumer return the
// concrete types, for SendWith and per-group queue shapes.
//
// The Broker's Config.Logger receives the logs of its connections, producers and consumers (a
// consumer's courier.ConsumerConfig.Logger takes its place for that consumer). amqp091-go's
// own few logs go to its process-wide logger, which this package points at slog.Default(),
// at Debug level; a program that calls amqp.SetLogger itself keeps its own.
//
// Failures: New retries until RabbitMQ answers, logging each failure, for at most
// Config.ConnectTimeout (URL parameter connect_timeout; default 10s) whatever its context's
// deadline; its error names the address (never the password) and the cause, and wraps
// courier.ErrAuthentication when the broker refuses the credentials (403 ACCESS_REFUSED).
//
// # Topology
//
// Each topic is a durable exchange (of Config.ExchangeType, topic by default) and a message's
// Key is its routing key. A consumer group has a durable queue per topic (quorum by default,
// classic on request), named by QueueName ("<group>.<topic>", the group's dots escaped),
// bound to the topic's exchange with QueueConfig.BindingKey ("#": every key). A consumer
// reads the queues of its own topics, on one channel: so a group's consumers of one topic
// share its messages, and a consumer of group G on topic A never receives topic B's, whatever
// topics other consumers of G read (as with a Kafka group). NewConsumer declares all of it, so
// messages sent after it returns are kept for the group; messages sent before a group's queue
// existed are not (RabbitMQ does not replay). Producers declare the exchanges they send to.
// Everything is declared again after a reconnect.
//
// Migrating from the layout before 2026-11-29, where a group was one queue named after the
// group and bound to every topic any of its consumers named: the old queue is left as it was.
// Let an old consumer drain it (or move its messages with a shovel), then delete it; the new
// consumers read the new queues, which receive what is published once they are declared.
//
// # Publishing
//
// Messages are persistent and published with publisher confirms: Send returns once the broker
// has confirmed the message; a nack is an error. With the mandatory flag (the default) a
// message no queue receives fails with an error wrapping courier.ErrUnroutable instead of
// being dropped. Concurrent Sends spread over Config.PublisherChannels channels, and
// SendBatch publishes a whole batch before waiting for its confirms. WithTTL gives messages
// a time to live (Producer.SendWith).
//
// Wire format: ID is the AMQP message-id, Key the routing key, Value the body, Headers the
// header table (string values), except the headers named like the AMQP properties
// content-type, content-encoding, correlation-id, reply-to, type and app-id (HeaderContentType
// and the others), which travel as those properties. The nanosecond Timestamp (the AMQP
// timestamp property, also set, has whole seconds) and a nil-Value mark travel in "courier-"
// headers, which user headers cannot use. A dead-lettered message keeps the Key it was first
// published with (read from its x-death header), even when the dead-lettering rewrote its
// routing key.
//
// # Messages from other publishers
//
// A message another client published (amqp-tools, a Java or Python service) is delivered
// like any other:
//   - ID: its message-id; without one, a new UUIDv7 made when it is received. RabbitMQ gives
//     a message no identity of its own, so such a message gets another ID if it is delivered
//     again after a consumer crash (retries in place keep it): publishers whose messages
//     must be deduplicated set message-id.
//   - Timestamp: its AMQP timestamp property (whole seconds); without one, the time it is
//     received (to the millisecond).
//   - Headers: its header table, each value in a documented text form (see headerText: a
//     byte array is its text, or "base64:..." when it is not UTF-8; numbers in decimal;
//     timestamps in RFC 3339; tables and arrays as JSON); and its properties: the six above
//     under their own names, user-id, expiration and priority as "amqp-user-id",
//     "amqp-expiration" and "amqp-priority". A property whose name a header of the message
//     already has arrives as "amqp-" + its name, so neither is lost.
//   - Key: the routing key (the first one, for a dead-lettered message).
//
// # Consuming
//
// Deliveries are acknowledged manually after the handler returned nil, in batches (one
// basic.ack with multiple set over consecutive delivery tags). Prefetch is sized from
// Concurrency. A handler error retries the message in place after the backoff, keeping its
// place in its key's order; Attempt is the quorum queue's x-delivery-count plus one, plus the
// retries made in place (classic queues only say that a delivery is a redelivery, Attempt 2).
// QueueConfig adds dead-lettering (DeadLetterExchange, DeliveryLimit, MaxAttempts) and
// single-active-consumer.
//
// RabbitMQ 4 gives quorum queues a default delivery limit of 20: a message returned to its
// queue that often (by consumers closing while handling it) is then dropped, unless the queue
// has a DeadLetterExchange. Set QueueConfig.DeliveryLimit to -1 there to lift the limit, or
// give the group a dead-letter exchange. RabbitMQ 3 has no such default.
//
// # Failures
//
// The producers' and the consumers' connections reconnect by themselves with
// Config.ReconnectBackoff. A Send during an outage waits for the reconnect, or for its ctx.
// A Send whose confirm the lost connection took away publishes the message again once
// reconnected (at-least-once: the broker may then hold it twice), so Send never reports a
// success it did not get. A consumer re-declares its topology and resumes; the deliveries it
// had not acknowledged come back from the broker, and acks for them are never sent on the new
// channel (delivery tags belong to their channel): the handlers still running on them see
// their context cancelled.
package rabbitmq
