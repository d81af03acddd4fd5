// Package pulsartest runs an in-process Apache Pulsar broker for tests.
//
// The server speaks enough of Pulsar's binary protocol for the unmodified
// github.com/apache/pulsar-client-go client (v0.19.0): connect and keep-alive,
// partitioned-metadata and lookup (partitioned topics come from
// CreatePartitionedTopic or WithPartitionedTopic), producers with batched or
// compressed payloads (stored and resent byte for byte, checksum included),
// consumers of every subscription type, flow control, individual and
// cumulative acknowledgements (with receipts), negative acknowledgements and
// redelivery, seek, last-message-id queries, delayed delivery, close and
// unsubscribe. Messages live in memory and vanish with the server.
//
// Where a real broker's behaviour is not obvious, the server copies it:
//   - a new subscription starts at the latest message unless the client asks
//     for the earliest;
//   - the redelivery count rises only on Shared and Key_Shared subscriptions;
//     on Exclusive and Failover a redelivery request rewinds the consumer;
//   - a second consumer on an Exclusive subscription, or one of another type,
//     is refused with ConsumerBusy;
//   - permits count messages, so a batch takes one per message inside;
//   - deliver-at times are honoured on Shared and Key_Shared subscriptions only;
//   - Key_Shared gives each key hash to one consumer (hash ranges split evenly,
//     or the consumer's own STICKY ranges); when a hash moves to a new
//     consumer its messages wait until the old one has acknowledged what it
//     holds, so each key stays in order;
//   - seek disconnects the subscription's consumers, which subscribe again at
//     the new position.
//
// Fault injection (DropConnections, SetResponseDelay) lets tests check that a
// client recovers from a broker that goes away or answers slowly.
package pulsartest
