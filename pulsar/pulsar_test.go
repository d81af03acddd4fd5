package pulsar_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/pulsar"
	"github.com/courier-go/courier/pulsar/pulsartest"
)

// serviceURL is COURIER_PULSAR_URL when set, else an in-process pulsartest
// server that lives as long as t.
func serviceURL(t testing.TB) string {
	if u := os.Getenv(testenv.PulsarURL); u != "" {
		return u
	}
	srv, err := pulsartest.NewServer()
	if err != nil {
		t.Fatalf("pulsartest: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.URL()
}

func testLogger() *slog.Logger {
	if os.Getenv("COURIER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func newBroker(t testing.TB) *pulsar.Broker { return newBrokerAt(t, serviceURL(t)) }

// newBrokerAt connects to the Pulsar at url.
func newBrokerAt(t testing.TB, url string) *pulsar.Broker {
	b, err := pulsar.New(t.Context(), pulsar.Config{
		URL:              url,
		OperationTimeout: 10 * time.Second,
		SendTimeout:      10 * time.Second,
		Logger:           testLogger(),
	})
	if err != nil {
		t.Fatalf("pulsar.New: %v", err)
	}
	return b
}

// clientLeftovers are goroutines pulsar-client-go leaves behind by design.
var clientLeftovers = []goleak.Option{
	// After a producer closes, pulsar-client-go v0.19.0 leaves its
	// send-timeout watcher running until the next SendTimeout tick.
	goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages"),
	// A consumer closed while it is (re)connecting leaves the goroutine that hands the new
	// connection over blocked on a channel nobody reads any more (v0.19.0, grabConn).
	goleak.IgnoreAnyFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionConsumer).grabConn.func1"),
	// New's connection check returns as soon as the broker refuses the credentials; the
	// client's lookup goes on retrying until its operation timeout, Config.ConnectTimeout.
	goleak.IgnoreAnyFunction("github.com/courier-go/courier/pulsar.check.func1"),
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, clientLeftovers...)
}

func harness() brokertest.Harness {
	return brokertest.Harness{
		NewBroker:        func(t testing.TB) courier.Broker { return newBroker(t) },
		IgnoreGoroutines: clientLeftovers,
	}
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, harness(), brokertest.Capabilities{
		Replay:          true,
		MaxMessageBytes: pulsar.DefaultMaxMessageBytes,
		KeyOrder:        brokertest.OrderAcrossGroup, // Key_Shared: a key goes to one consumer of the subscription at a time
	})
}
