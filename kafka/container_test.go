package kafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
)

// kafkaImage is the image the container starter runs (KRaft, a single node).
const kafkaImage = "confluentinc/confluent-local:7.5.0"

// startContainer starts a Kafka container with testcontainers-go and returns its brokers.
// Without a Docker engine it fails at once, and testenv skips the test.
func startContainer(t testing.TB) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := tckafka.Run(ctx, kafkaImage)
	if c != nil {
		t.Cleanup(func() { _ = testcontainers.TerminateContainer(c) })
	}
	if err != nil {
		return "", err
	}
	brokers, err := c.Brokers(ctx)
	if err != nil {
		return "", err
	}
	return strings.Join(brokers, ","), nil
}
