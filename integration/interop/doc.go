// Package interop checks courier against clients this project did not write, in both
// directions: kcat (librdkafka) against an in-process kfake cluster, redis-cli, amqp-tools
// (amqp-publish, amqp-get) and the bare pulsar-client-go against pulsartest. Each test
// asserts what the other side can show of key, headers, value, ID and timestamp.
//
// The command-line tools come from Debian's packages kcat, redis-tools and amqp-tools
// (.ci/run installs them); a missing tool skips its test, or fails it under
// COURIER_REQUIRE_BROKERS=1.
package interop
