package containers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
	tcpulsar "github.com/testcontainers/testcontainers-go/modules/pulsar"
	tcrabbit "github.com/testcontainers/testcontainers-go/modules/rabbitmq"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// Images the starters run.
const (
	RedisImage    = "redis:7"
	RabbitMQImage = "rabbitmq:3.13-alpine"
	KafkaImage    = "confluentinc/confluent-local:7.5.0" // KRaft, a single node
	PulsarImage   = "apachepulsar/pulsar:3.3.2"
)

// Broker is a started broker: Addr is what the matching COURIER_* variable takes
// (a URL, or Kafka's comma-separated brokers).
type Broker struct {
	Kind string
	Addr string
	c    testcontainers.Container
}

// Terminate removes the container.
func (b *Broker) Terminate(ctx context.Context) error {
	return b.c.Terminate(ctx)
}

// starters maps a kind to its starter.
var starters = map[string]func(ctx context.Context) (testcontainers.Container, string, error){
	"redis": func(ctx context.Context) (testcontainers.Container, string, error) {
		c, err := tcredis.Run(ctx, RedisImage)
		if err != nil {
			return c, "", err
		}
		addr, err := c.ConnectionString(ctx)
		return c, addr, err
	},
	"rabbitmq": func(ctx context.Context) (testcontainers.Container, string, error) {
		c, err := tcrabbit.Run(ctx, RabbitMQImage)
		if err != nil {
			return c, "", err
		}
		addr, err := c.AmqpURL(ctx)
		return c, addr, err
	},
	"kafka": func(ctx context.Context) (testcontainers.Container, string, error) {
		c, err := tckafka.Run(ctx, KafkaImage)
		if err != nil {
			return c, "", err
		}
		brokers, err := c.Brokers(ctx)
		return c, strings.Join(brokers, ","), err
	},
	"pulsar": func(ctx context.Context) (testcontainers.Container, string, error) {
		c, err := tcpulsar.Run(ctx, PulsarImage)
		if err != nil {
			return c, "", err
		}
		addr, err := c.BrokerURL(ctx)
		return c, addr, err
	},
}

// Kinds lists the brokers Start knows, sorted.
func Kinds() []string {
	kinds := make([]string, 0, len(starters))
	for k := range starters {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// Start starts a broker of the given kind (one of Kinds) and waits until it accepts
// connections. The caller terminates it.
func Start(ctx context.Context, kind string) (*Broker, error) {
	start, ok := starters[kind]
	if !ok {
		return nil, fmt.Errorf("containers: unknown broker %q (known: %s)", kind, strings.Join(Kinds(), ", "))
	}
	c, addr, err := start(ctx)
	if err != nil {
		if c != nil {
			_ = c.Terminate(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("containers: start %s: %w", kind, err)
	}
	return &Broker{Kind: kind, Addr: addr, c: c}, nil
}
