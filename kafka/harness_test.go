package kafka_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/brokertest"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"
)

// testPartitions is the partition count of the topics tests create: more than one, so that
// group members share a topic and keys spread over partitions.
const testPartitions = 4

// newCluster starts an in-process Kafka cluster (three brokers, so that partition leaders
// spread) for the test, closed when it ends.
func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{
		kfake.NumBrokers(3),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
		// The broker's batch limit is above the producer's, so that the producer's own
		// check is what the TooLarge case meets.
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "8388608"}),
	}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testConfig is the adapter config tests use: quick heartbeats, so that rebalances take a
// fraction of a second instead of the default three, and short fetch waits, so that Close
// does not wait half a second for the fetch in flight.
func testConfig(brokers []string, maxMessageBytes int) kafka.Config {
	return kafka.Config{
		Brokers:           brokers,
		MaxMessageBytes:   maxMessageBytes,
		SessionTimeout:    6 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		CommitInterval:    100 * time.Millisecond,
		FetchMaxWait:      100 * time.Millisecond,
	}
}

func openBroker(t testing.TB, cfg kafka.Config) *kafka.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := kafka.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newTopic creates a topic with testPartitions partitions.
func newTopic(t testing.TB, b courier.Broker) string {
	t.Helper()
	var r [6]byte
	_, _ = rand.Read(r[:])
	name := "courier-test-" + hex.EncodeToString(r[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.(*kafka.Broker).CreateTopic(ctx, name, testPartitions, 0); err != nil {
		t.Fatal(err)
	}
	return name
}

// ignoreGoroutines are the goroutines sarama's dependencies leave running by design.
var ignoreGoroutines = []goleak.Option{
	// go-metrics, with which sarama meters its clients, starts one process-wide ticker
	// goroutine with the first meter and never stops it (rcrowley/go-metrics meter.go,
	// NewMeter: "arbiter.ticker"); it is shared by every client, not leaked per client.
	goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
}

// quiet keeps the expected warnings of the cases (handler failures they provoke, partitions
// they revoke) out of the test output; errors still show.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// harness returns the suite's harness on brokers from newBrokers.
func harness(newBrokers func(t testing.TB) []string, maxMessageBytes int) brokertest.Harness {
	return brokertest.Harness{
		NewBroker: func(t testing.TB) courier.Broker {
			cfg := testConfig(newBrokers(t), maxMessageBytes)
			cfg.Logger = quiet
			return openBroker(t, cfg)
		},
		NewTopic:         newTopic,
		Configure:        func(cfg *courier.ConsumerConfig) { cfg.Logger = quiet },
		IgnoreGoroutines: ignoreGoroutines,
	}
}

// kfakeBrokers starts a cluster for one test and returns its brokers.
func kfakeBrokers(t testing.TB) []string { return newCluster(t).ListenAddrs() }

// externalBrokers returns the brokers of COURIER_KAFKA_BROKERS, or of a Kafka container when
// a Docker engine is there; else the test is skipped, even under COURIER_REQUIRE_BROKERS=1:
// the contract is always checked on the in-process kfake cluster (TestConformance), so a real
// cluster is extra coverage, not the only one.
func externalBrokers(t testing.TB) []string {
	if v := os.Getenv(testenv.KafkaBrokers); v != "" {
		return strings.Split(v, ",")
	}
	addr, err := testenv.Container("kafka")(t)
	if err != nil {
		t.Skipf("no external Kafka (%s unset, and no container: %v); TestConformance ran the suite on kfake", testenv.KafkaBrokers, err)
	}
	return strings.Split(addr, ",")
}

func TestConformance(t *testing.T) {
	const max = 2 << 20 // above brokertest's 1 MiB LargeValue, below the cluster's limit
	brokertest.Run(t, harness(kfakeBrokers, max), brokertest.Capabilities{
		Replay:          true, // with StartOldest a new group reads the partitions from the start
		NilValue:        true, // a nil Value is a null record value, an empty one an empty value
		MaxMessageBytes: max,
		KeyOrder:        brokertest.OrderAcrossGroup, // a key's partition is held by one consumer of the group at a time
	})
}

// TestConformanceExternal runs the suite against a real Kafka. Its topics keep the broker's
// default max.message.bytes (about 1 MB), so the producer keeps its 1 MiB default and the
// 1 MiB LargeValue case is skipped there.
func TestConformanceExternal(t *testing.T) {
	brokers := externalBrokers(t)
	h := harness(func(testing.TB) []string { return brokers }, 0)
	brokertest.Run(t, h, brokertest.Capabilities{Replay: true, NilValue: true, MaxMessageBytes: kafka.DefaultMaxMessageBytes,
		KeyOrder: brokertest.OrderAcrossGroup})
}
