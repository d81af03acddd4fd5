// Package pulsar is courier's adapter for Apache Pulsar, on
// github.com/apache/pulsar-client-go.
//
// Import it for its side effect to open "pulsar://" and "pulsar+ssl://" URLs
// with courier.Open, or call New with a Config for every setting (ParseURL
// makes one from a URL), or NewWithClient with a pulsar-client-go client of
// your own, which the Broker never closes:
//
//	b, err := courier.Open(ctx, "pulsar://localhost:6650?subscription_type=key_shared")
//	b, err := pulsar.New(ctx, pulsar.Config{URL: "pulsar://localhost:6650", Logger: logger})
//
// Broker.As reaches the client for the calls courier does not cover, and a
// consumer's As its pulsar.Consumer (see Broker.NewConsumer). The
// Broker's Config.Logger receives its consumers' logs (a consumer's
// courier.ConsumerConfig.Logger takes its place for that consumer) and, for a
// client New made, the client's warnings and errors.
//
// Failures: New checks that a broker answers at Config.URL (a lookup, which
// needs the connection, the handshake and the authentication), while the
// client retries and logs each failed attempt, for at most
// Config.ConnectTimeout (URL parameter connect_timeout; default 10s) whatever
// its context's deadline; its error names the address and the cause, and wraps
// courier.ErrAuthentication when the broker refuses the credentials.
//
// Mapping: a courier topic is a Pulsar topic (short names live in
// public/default); a group is a subscription, Key_Shared by default so that
// messages of one key stay in order across the group's consumers; Key is the
// message key, Headers are properties, and Timestamp is the event time
// (milliseconds). An ID left empty is not sent: the consumer derives a UUIDv7
// from the message ID and the event time, the same for every subscription and
// every delivery (an ID the caller sets travels). What the event time and the
// key cannot say - a caller's ID, nanoseconds, an empty payload - travels in the
// one reserved property "courier-meta" as "<Unix nanoseconds>;<key|nokey>;<ID>",
// present only on messages that need it. Messages without a key get one of a
// few rotating Pulsar keys ("courier-spread-N", removed on delivery), so that
// Key_Shared still spreads them over the group.
// Attempt comes from Pulsar's redelivery count.
//
// Messages from other producers (the bare client, other languages) are delivered as they
// are: their properties become Headers (a "courier-" property of another producer is
// dropped), their key the Key, and their ID is derived from the message ID as above. Their
// Timestamp is the event time when they have one, else the broker's publish time; both are
// the same on every delivery, so the derived ID is too.
//
// Producers cache Pulsar producers per topic, created on first use: one with
// key-based batching for keyed messages (a batch holds one key, so Key_Shared
// keeps order) and one with plain batching for keyless messages. Consumers
// run handlers through courier's shared dispatch engine: a handler error
// retries the message in place after the group's backoff; Close hands
// unhandled messages back with a negative ack.
//
// Known client (v0.19.0) problems handled here: a consumer's Close does not
// close its Chan(), so Consume never ranges over it; after a producer closes,
// a client goroutine lingers up to the send timeout (tests ignore it by name).
// An unbatched message with an empty payload and no properties is dropped by
// the client as corrupt; courier's messages always carry properties, so empty
// values arrive.
package pulsar
