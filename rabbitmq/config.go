package rabbitmq

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/courier-go/courier"
)

// Defaults of Config.
const (
	DefaultExchangeType      = "topic"
	DefaultBindingKey        = "#"
	DefaultMaxMessageBytes   = 16 << 20 // RabbitMQ 4's max_message_size; 3.x allows 128 MiB
	DefaultPublisherChannels = 4
	DefaultHeartbeat         = 10 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultCloseTimeout      = 30 * time.Second
)

// DefaultReconnectBackoff is the delay between attempts to reconnect after the connection to
// RabbitMQ was lost, when Config.ReconnectBackoff is zero.
var DefaultReconnectBackoff = courier.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}

// QueueType is the kind of queue a group gets.
type QueueType string

// Queue types.
const (
	// Quorum queues are replicated, durable, and count deliveries (x-delivery-count), from
	// which Message.Attempt comes. The default.
	Quorum QueueType = "quorum"
	// Classic queues are the older, single-node kind. Attempt is 1, or 2 for a message the
	// broker marks redelivered, plus the retries made in place.
	Classic QueueType = "classic"
)

// QueueConfig shapes the durable queue of a group. The zero value is a quorum queue bound to
// every routing key of its topics.
type QueueConfig struct {
	// Type is Quorum (default) or Classic.
	Type QueueType
	// BindingKey binds the queue to each topic's exchange; default "#" (every routing key of a
	// topic exchange). For a direct exchange set the key to receive; fanout ignores it.
	BindingKey string
	// DeadLetterExchange, when set, is the queue's x-dead-letter-exchange: messages the broker
	// drops (delivery limit exceeded, MaxAttempts reached, TTL expired) go there instead of
	// being lost. The exchange must exist; declare it and bind a queue to it.
	DeadLetterExchange string
	// DeliveryLimit is the quorum queue's x-delivery-limit: after this many returns to the
	// queue (consumer crash, release on close) the broker dead-letters the message, or drops
	// it when there is no DeadLetterExchange. 0 keeps the broker's default (none on 3.x, 20 on
	// 4.x); -1 asks 4.x for no limit. Quorum queues only.
	DeliveryLimit int
	// MaxAttempts, when > 0, ends in-place retries: a message whose handler failed on attempt
	// MaxAttempts is rejected without requeue, so the broker dead-letters it. It requires
	// DeadLetterExchange, so that nothing is dropped. 0 retries until the handler succeeds.
	MaxAttempts int
	// SingleActiveConsumer makes the broker deliver to one consumer of the group at a time
	// (x-single-active-consumer), for strict order across instances; the others take over
	// when it leaves.
	SingleActiveConsumer bool
}

// Config configures a Broker. Only URL is required; the zero values of the other fields select
// the documented defaults.
type Config struct {
	// URL is the broker's address with credentials and vhost:
	// amqp://user:pass@host:5672/vhost or amqps://... for TLS. Its query parameters are read by
	// ParseURL, not here.
	URL string
	// TLS configures amqps connections; nil means the system roots and the URL's host name.
	TLS *tls.Config
	// ConnectionName is shown in the management UI; default "courier".
	ConnectionName string
	// Heartbeat is the AMQP heartbeat interval; default DefaultHeartbeat.
	Heartbeat time.Duration
	// ConnectTimeout bounds New (its connections, retried with ReconnectBackoff meanwhile),
	// whatever the deadline of its context, and each reconnect attempt after a connection
	// was lost; default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// ReconnectBackoff is the delay between reconnect attempts after the connection was lost;
	// zero means DefaultReconnectBackoff.
	ReconnectBackoff courier.Backoff

	// ExchangeType is the type of the exchange declared for each topic: topic (default),
	// direct, fanout or headers. Producers and consumers of a topic must agree on it.
	ExchangeType string
	// AllowUnroutable turns off the mandatory flag: a message that no queue receives is then
	// dropped by the broker and Send succeeds. By default (false) Send fails with an error
	// wrapping courier.ErrUnroutable.
	AllowUnroutable bool
	// MaxMessageBytes is the largest courier.Message.Size that Send accepts; default
	// DefaultMaxMessageBytes. Keep it at or below the server's max_message_size.
	MaxMessageBytes int
	// PublisherChannels is how many channels each producer publishes on, so that concurrent
	// Sends do not queue behind one channel's confirms; default DefaultPublisherChannels.
	PublisherChannels int
	// CloseTimeout bounds how long Producer.Close waits for Sends in flight; default
	// DefaultCloseTimeout.
	CloseTimeout time.Duration

	// Queue shapes the queue of each group made by NewConsumer.
	Queue QueueConfig
	// Prefetch is the consumer's channel prefetch (basic.qos): how many unacknowledged
	// deliveries the broker sends ahead. 0 sizes it from the consumer's Concurrency:
	// max(8*Concurrency, 128).
	Prefetch int

	// Logger receives the broker's logs (never payloads or credentials); nil means slog.Default().
	Logger *slog.Logger
}

var exchangeTypes = []string{"topic", "direct", "fanout", "headers"}

// Validate says what is wrong with cfg, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.URL == "" {
		add("empty URL")
	} else if u, err := url.Parse(c.URL); err != nil {
		add("malformed URL: %v", err)
	} else {
		if u.Scheme != "amqp" && u.Scheme != "amqps" {
			add("URL scheme %q, want amqp or amqps", u.Scheme)
		}
		if u.Host == "" {
			add("URL %q has no host", u.Redacted())
		}
	}
	if c.ExchangeType != "" && !slices.Contains(exchangeTypes, c.ExchangeType) {
		add("unknown ExchangeType %q (want one of %s)", c.ExchangeType, strings.Join(exchangeTypes, ", "))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Heartbeat", c.Heartbeat}, {"ConnectTimeout", c.ConnectTimeout}, {"CloseTimeout", c.CloseTimeout}} {
		if d.v < 0 {
			add("negative %s %v", d.name, d.v)
		}
	}
	if err := c.ReconnectBackoff.Validate(); err != nil {
		add("ReconnectBackoff: %v", err)
	}
	if c.MaxMessageBytes < 0 {
		add("negative MaxMessageBytes %d", c.MaxMessageBytes)
	}
	if c.PublisherChannels < 0 {
		add("negative PublisherChannels %d", c.PublisherChannels)
	}
	if c.Prefetch < 0 || c.Prefetch > 65535 {
		add("Prefetch %d out of range [0, 65535]", c.Prefetch)
	}
	q := c.Queue
	if q.Type != "" && q.Type != Quorum && q.Type != Classic {
		add("unknown Queue.Type %q (want quorum or classic)", q.Type)
	}
	if q.DeliveryLimit < -1 {
		add("Queue.DeliveryLimit %d (want -1, 0 or more)", q.DeliveryLimit)
	}
	if q.DeliveryLimit != 0 && q.Type == Classic {
		add("Queue.DeliveryLimit needs a quorum queue")
	}
	if q.MaxAttempts < 0 {
		add("negative Queue.MaxAttempts %d", q.MaxAttempts)
	}
	if q.MaxAttempts > 0 && q.DeadLetterExchange == "" {
		add("Queue.MaxAttempts needs a Queue.DeadLetterExchange, or rejected messages would be dropped")
	}
	if c.ExchangeType == "direct" && q.BindingKey == "" {
		add("a direct exchange needs a Queue.BindingKey (the default %q matches only that literal key)", DefaultBindingKey)
	}
	if len(problems) > 0 {
		return fmt.Errorf("rabbitmq: config: %w: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// withDefaults returns c with its zero optional fields set.
func (c Config) withDefaults() Config {
	if c.ConnectionName == "" {
		c.ConnectionName = "courier"
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReconnectBackoff == (courier.Backoff{}) {
		c.ReconnectBackoff = DefaultReconnectBackoff
	}
	if c.ExchangeType == "" {
		c.ExchangeType = DefaultExchangeType
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.PublisherChannels == 0 {
		c.PublisherChannels = DefaultPublisherChannels
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.Queue.Type == "" {
		c.Queue.Type = Quorum
	}
	if c.Queue.BindingKey == "" {
		c.Queue.BindingKey = DefaultBindingKey
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// prefetch returns the basic.qos prefetch for a consumer running concurrency handlers.
func (c Config) prefetch(concurrency int) int {
	if c.Prefetch > 0 {
		return c.Prefetch
	}
	return min(max(8*concurrency, 128), 65535)
}
