// Package brokercheck runs the checks of cqrs/cqrstest on every broker: memory, Kafka (the
// in-process kfake cluster), Pulsar (the in-process pulsartest broker), Redis Streams and
// RabbitMQ (from COURIER_REDIS_URL and COURIER_AMQP_URL, else skipped, or failed under
// COURIER_REQUIRE_BROKERS=1). It is a module of its own so that no adapter's client enters
// the cqrs package's module.
package brokercheck
