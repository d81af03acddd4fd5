// Package testenv finds the brokers that tests run against, the same way in every package:
// from a COURIER_* environment variable, else from a container that testcontainers-go starts
// when a Docker engine is there, else the test is skipped, or, with COURIER_REQUIRE_BROKERS=1
// (as .ci/run sets), failed, so that CI never goes green on skipped broker tests.
package testenv

import (
	"os"
	"testing"
)

// Environment variables naming the brokers under test.
const (
	KafkaBrokers   = "COURIER_KAFKA_BROKERS" // host:port[,host:port...]
	AMQPURL        = "COURIER_AMQP_URL"      // amqp://user:pass@host:5672/vhost
	RedisURL       = "COURIER_REDIS_URL"     // redis://host:6379/0
	PulsarURL      = "COURIER_PULSAR_URL"    // pulsar://host:6650
	PostgresURL    = "COURIER_POSTGRES_URL"  // postgres://user@host:5432/db?sslmode=disable (stores)
	RequireBrokers = "COURIER_REQUIRE_BROKERS"
)

// Required reports whether COURIER_REQUIRE_BROKERS asks that broker tests never skip.
func Required() bool {
	v := os.Getenv(RequireBrokers)
	return v != "" && v != "0" && v != "false"
}

// Starter starts a broker for the test (with testcontainers-go, say) and returns its address.
// The starter arranges its own cleanup with t.Cleanup.
type Starter func(t testing.TB) (string, error)

// Broker returns the address of the broker named by the environment variable env, or the
// one start brings up (start may be nil). If neither gives one, the test is skipped with a
// message saying how to provide it, or failed when Required.
func Broker(t testing.TB, env string, start Starter) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	why := "no " + env + " set and no way to start a broker"
	if start != nil {
		addr, err := start(t)
		if err == nil {
			return addr
		}
		why = "no " + env + " set, and starting a container failed: " + err.Error()
	}
	Unavailable(t, why)
	return ""
}

// Unavailable skips the test for want of a broker, or fails it when Required.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("broker unavailable and %s=1 forbids skipping: %s", RequireBrokers, why)
	}
	t.Skipf("skipped: broker unavailable: %s (set the COURIER_* variables, or run a Docker engine)", why)
}
