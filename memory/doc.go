// Package memory is courier's embedded in-process broker, registered as "memory://".
//
// It is the default for examples and for users' own unit tests: no server, no setup, and the
// same delivery contract as the real brokers (brokertest checks it). Each topic is a retained
// log, as on Kafka: every group has its own position in it, a new group starts at the oldest
// message (or the newest, with courier.StartNewest), and the consumers of one group share the
// messages. A handler error brings the message back with Attempt+1 after a backoff, keeping
// its place before later messages of its key; messages a closed consumer did not finish go to
// the other consumers of its group. Messages of one key are never held by two consumers of a
// group at once, so per-key order holds across consumers too.
//
// Nothing is written to disk: the messages live as long as the Broker. By default a topic keeps
// every message until Close; Config.MaxMessagesPerTopic bounds that, and then the oldest
// messages are dropped even for groups that have not read them yet: those groups lose them.
// Each loss is logged and counted in TopicStats.Dropped, never silent.
//
// URL form: memory://[?max_message_bytes=N&max_messages_per_topic=N]. Every Open of
// "memory://" makes a new, separate broker; to share one, share the *Broker.
package memory
