// Package pulsartest runs an in-process Apache Pulsar broker for tests.
//
// The server speaks enough of Pulsar's binary protocol for the unmodified
// github.com/apache/pulsar-client-go client: lookups, partitioned topics,
// producers (batched, compressed), consumers of every subscription type,
// flow control, acknowledgements, negative acknowledgements and redelivery,
// seek, last-message-id queries and delayed delivery. Messages live in memory
// and vanish with the server.
//
// Fault injection (DropConnections, SetResponseDelay) lets tests check that a
// client recovers from a broker that goes away or answers slowly.
package pulsartest
