// Package redisstreams is courier's adapter for Redis Streams, on github.com/redis/go-redis/v9.
//
// Import it for its side effect to open brokers by URL:
//
//	import _ "github.com/courier-go/courier/redisstreams"
//	b, err := courier.Open(ctx, "redis://:password@host:6379/0?prefix=app:")
//
// or call New with a Config (ParseURL makes one from a URL and lists the URL parameters), or
// NewWithClient with a go-redis client of your own (*redis.Client, a cluster or sentinel
// client), which the Broker never closes. Broker.As reaches the client for the commands
// courier does not cover.
//
// The Broker's Config.Logger receives the logs of its producers and consumers (a consumer's
// courier.ConsumerConfig.Logger takes its place for that consumer). go-redis's own few logs
// (failed dials of its pool) go to its process-wide logger, which this package points at
// slog.Default(), at Warn level; a program that calls redis.SetLogger itself keeps its own.
//
// Failures: New retries until Redis answers, logging each failure, for at most
// Config.ConnectTimeout (URL parameter connect_timeout; default 10s) whatever its context's
// deadline; its error names the address and the cause, and wraps courier.ErrAuthentication
// when Redis refuses the credentials (WRONGPASS, NOAUTH).
//
// # Mapping
//
// A topic is a stream key (Config.Prefix + topic). A consumer group is a Redis consumer
// group, created with XGROUP CREATE ... MKSTREAM by NewConsumer when missing, at the start of
// the stream (courier.StartOldest, so a new group replays what the stream holds) or after its
// end (courier.StartNewest). Each consumer has a name of its own in the group.
//
// Send is one XADD; SendBatch is one pipeline of XADDs. Both return once Redis has the entry:
// how durably depends on the server's persistence (appendonly yes with appendfsync always makes
// an acknowledged Send survive a crash of Redis). While Redis is unreachable they retry with
// backoff, up to the context's deadline or Config.SendRetryTimeout.
//
// # Entry layout
//
// Each message is one stream entry whose fields a person can read with redis-cli
// (XRANGE key - +):
//
//	id        the message ID (courier.Message.ID)
//	ts        the message Timestamp, as decimal Unix nanoseconds
//	key       the message Key; absent when the Key is empty
//	h:<name>  one field per header <name>, holding its value
//	v         the Value, byte for byte; ABSENT when the Value is nil, present and empty
//	          when the Value is empty (Config.ValueField names this field; "v" by default)
//
// The entry ID Redis assigns (ms-seq) is not the message ID: a message sent twice (a retried
// XADD) has two entries with the same "id" field.
//
// Entries of any other layout - those without both the id and ts fields, such as
// `XADD orders * payload {...} source cli` from redis-cli or another client - are delivered
// too: the Config.ValueField field is the Value (nil when the entry has none), every other
// field is a header of the same name (key and h:... included), the Timestamp is the entry ID's
// millisecond and the ID a UUIDv7 derived from the entry ID and the topic, the same in every
// group and on every delivery. An entry that still cannot be decoded - a courier entry whose
// ts field is not a number - is poison: it never reaches the handler, but goes at once to the
// consumer's OnExhausted (courier.ConsumerConfig) with what could be read of it, so that it is
// dead-lettered (package dlq) or dropped with a log, and acknowledged.
//
// # Consuming
//
// Consume reads with XREADGROUP (Config.ReadCount entries per stream, blocking at most
// Config.Block, which also bounds how long Close waits for the read in progress; the next read
// is under way while the last is handed out) and feeds the shared dispatch engine: handler
// concurrency, per-key order and in-place retries. A handler returning nil acknowledges its
// entry with XACK, in batches: in the pipeline of the next read, or within 2ms on their own
// when no read comes by; a crash may lose those not sent yet, and their entries are
// delivered again. A handler error leaves the
// entry pending; after the backoff the consumer re-claims it (XCLAIM, which raises its delivery
// count) and handles it again with Attempt set to Redis's delivery count of the entry.
//
// Entries left pending by a consumer that died are taken over by the live consumers of the
// group with XAUTOCLAIM once they have been idle for Config.ClaimIdle (their Attempt is then
// the delivery count, at least 2). A live consumer keeps the entries it is still handling or
// waiting to retry from going idle, so long handlers are not taken over. A consumer that
// closes hands its unfinished entries back at once (it makes them idle), so the group's other
// consumers take them on their next claim pass, every Config.ClaimInterval.
//
// # Ordering
//
// Messages of one key reach the handler in stream order, one at a time, within one consumer.
// Redis hands the entries of a stream to the consumers of a group in turn, whatever their
// key, so when a group has several consumers, two messages of one key may be handled by two
// consumers at once; and entries taken over from a dead consumer are handled after newer ones
// of their key that the taker had already received. Run one consumer per group where per-key
// order matters, with Concurrency for parallelism.
//
// # Redis Cluster
//
// Every command touches one stream key at a time, except the XREADGROUP of a consumer with
// several topics, which reads their streams together: on Redis Cluster those stream keys must
// share a hash slot (put a {tag} in Config.Prefix or in the topic names).
//
// # Trimming
//
// Streams grow until trimmed. Config.TrimMaxLen (MAXLEN ~) or Config.TrimMaxAge (MINID ~)
// trims on every XADD, approximately (whole macro nodes, cheaply). Trimming ignores the
// groups: entries a group has not read or not acknowledged yet are deleted all the same, and
// those messages are lost to that group. Size the bound for the longest lag you accept.
package redisstreams
