package brokercheck

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // the clients log reconnections and such
	goleak.VerifyTestMain(m,
		// After a producer closes, pulsar-client-go v0.19.0 leaves its send-timeout watcher
		// running until the next SendTimeout tick (as the pulsar module's tests note).
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages"),
		// sarama's metrics registry starts a process-wide meter ticker that never stops (as
		// the kafka module's tests note).
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}
