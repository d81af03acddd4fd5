// Package otel runs otelcourier's check (oteltest.Check) on each of the five brokers: a
// message sent and consumed through them yields the send and process spans in one trace, and
// the attributes and metrics of the messaging conventions.
package otel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/kafka"
	_ "github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/middleware/otelcourier/oteltest"
	_ "github.com/courier-go/courier/pulsar"
	"github.com/courier-go/courier/pulsar/pulsartest"
	"github.com/courier-go/courier/rabbitmq"
	_ "github.com/courier-go/courier/redisstreams"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func randomTopic() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "otel-" + hex.EncodeToString(b[:])
}

func open(t *testing.T, url string) courier.Broker {
	t.Helper()
	b, err := courier.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestTracedFromSendToProcess(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		oteltest.Check(t, open(t, "memory://"), oteltest.Options{System: "memory"})
	})
	t.Run("redis", func(t *testing.T) {
		url := testenv.Broker(t, testenv.RedisURL, nil)
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		topic := randomTopic()
		t.Cleanup(func() { deleteRedisKeys(t, url, topic+":") })
		oteltest.Check(t, open(t, url+sep+"prefix="+topic+":"), oteltest.Options{System: "redis", Topic: topic})
	})
	t.Run("rabbitmq", func(t *testing.T) {
		url := testenv.Broker(t, testenv.AMQPURL, nil)
		topic := randomTopic()
		t.Cleanup(func() { deleteRabbitTopology(t, url, topic) })
		oteltest.Check(t, open(t, url), oteltest.Options{System: "rabbitmq", Topic: topic})
	})
	t.Run("kafka", func(t *testing.T) {
		topic := randomTopic()
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		b, err := kafka.New(context.Background(), kafka.Config{Brokers: c.ListenAddrs()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		oteltest.Check(t, b, oteltest.Options{System: "kafka", Topic: topic})
	})
	t.Run("pulsar", func(t *testing.T) {
		srv, err := pulsartest.NewServer()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		oteltest.Check(t, open(t, srv.URL()), oteltest.Options{System: "pulsar"})
	})
}

// deleteRedisKeys deletes the keys that start with prefix: the streams the check made.
func deleteRedisKeys(t *testing.T, url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err == nil && len(keys) > 0 {
		err = c.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// deleteRabbitTopology deletes the exchange and the groups' queues the check made.
func deleteRabbitTopology(t *testing.T, url, topic string) {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	parent, link := oteltest.Groups(topic)
	for _, g := range []string{parent, link} {
		if _, err := ch.QueueDelete(rabbitmq.QueueName(g, topic), false, false, false); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	if err := ch.ExchangeDelete(topic, false, false); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}
