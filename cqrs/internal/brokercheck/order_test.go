package brokercheck

import (
	"context"
	"crypto/rand"
	"net/url"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/cqrs/cqrstest"
	"github.com/courier-go/courier/internal/testenv"
	"github.com/courier-go/courier/kafka"
	"github.com/courier-go/courier/memory"
	"github.com/courier-go/courier/pulsar"
	"github.com/courier-go/courier/pulsar/pulsartest"
	_ "github.com/courier-go/courier/rabbitmq"
	_ "github.com/courier-go/courier/redisstreams"
)

// orderConfig is what every broker runs: the commands of 16 aggregates, 50 each, through a
// consumer of Concurrency 8, under names of the test's own.
func orderConfig() cqrstest.OrderConfig {
	suffix := rand.Text()[:10]
	return cqrstest.OrderConfig{Concurrency: 8, Timeout: time.Minute,
		Topic: "cqrs-order-" + suffix, Group: "cqrs-order-handlers-" + suffix}
}

func check(t *testing.T, b courier.Broker, cfg cqrstest.OrderConfig) {
	t.Helper()
	res := cqrstest.CommandOrder(t, b, cfg)
	t.Logf("%+v", res)
}

func TestCommandOrderMemory(t *testing.T) {
	b, err := memory.New(context.Background(), memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check(t, b, orderConfig())
}

func TestCommandOrderKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := kafka.New(context.Background(), kafka.Config{Brokers: c.ListenAddrs(), CreateTopics: true,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 100 * time.Millisecond, FetchMaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check(t, b, orderConfig())
}

func TestCommandOrderPulsar(t *testing.T) {
	srv, err := pulsartest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	b, err := pulsar.New(context.Background(), pulsar.Config{URL: srv.URL(), OperationTimeout: 10 * time.Second, SendTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check(t, b, orderConfig())
}

func TestCommandOrderRedis(t *testing.T) {
	raw := testenv.Broker(t, testenv.RedisURL, nil)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "cqrs-order-" + rand.Text()[:10] + ":"
	q := u.Query()
	q.Set("prefix", prefix)
	u.RawQuery = q.Encode()
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opts)
	defer admin.Close()
	defer func() { // runs after the broker closed: delete every key of the test's prefix
		ctx := context.Background()
		iter := admin.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			admin.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("deleting the test's keys: %v", err)
		}
	}()
	b, err := courier.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check(t, b, orderConfig())
}

func TestCommandOrderRabbitMQ(t *testing.T) {
	raw := testenv.Broker(t, testenv.AMQPURL, nil)
	cfg := orderConfig()
	defer func() { // the queue and exchange the test declared
		conn, err := amqp.Dial(raw)
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
		defer ch.Close()
		if _, err := ch.QueueDelete(cfg.Group, false, false, false); err != nil {
			t.Errorf("cleanup: delete queue %q: %v", cfg.Group, err)
		}
		if err := ch.ExchangeDelete(cfg.Topic, false, false); err != nil {
			t.Errorf("cleanup: delete exchange %q: %v", cfg.Topic, err)
		}
	}()
	b, err := courier.Open(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	check(t, b, cfg)
}
