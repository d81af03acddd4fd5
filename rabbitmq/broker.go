package rabbitmq

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

func init() {
	open := func(ctx context.Context, u *url.URL) (courier.Broker, error) {
		cfg, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return New(ctx, cfg)
	}
	courier.Register("amqp", open)
	courier.Register("amqps", open)
}

// Broker is a RabbitMQ broker: one connection for its producers and one for its consumers,
// each reconnecting by itself. It implements courier.Broker and is safe for concurrent use.
type Broker struct {
	cfg Config
	log *slog.Logger
	pub *conn // producers' connection
	sub *conn // consumers' connection: still acks while RabbitMQ blocks publishers

	members driver.Owned // producers and consumers, closed with the broker
}

// New connects to RabbitMQ. It fails, naming the broker, when the URL is wrong or the broker
// cannot be reached before ctx ends or Config.ConnectTimeout passes.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	pub, err := dialConn(ctx, cfg, "publish")
	if err != nil {
		return nil, err
	}
	sub, err := dialConn(ctx, cfg, "consume")
	if err != nil {
		_ = pub.close()
		return nil, err
	}
	return &Broker{
		cfg: cfg,
		log: cfg.Logger.With("broker", "rabbitmq"),
		pub: pub,
		sub: sub,
	}, nil
}

// NewProducer returns a producer. Its channels open on the first Send.
func (b *Broker) NewProducer(ctx context.Context) (courier.Producer, error) {
	return b.Producer(ctx)
}

// Producer is NewProducer returning the concrete type, for SendWith and SendBatchWith.
func (b *Broker) Producer(_ context.Context) (*Producer, error) {
	p := newProducer(b) // holds nothing until its first Send
	if err := b.members.Add(p); err != nil {
		return nil, fmt.Errorf("rabbitmq: new producer: %w", err)
	}
	return p, nil
}

// NewConsumer declares the group's durable queue (Config.Queue shapes it), each topic's
// exchange, and the bindings between them, so messages sent from now on are kept for the
// group; then returns its consumer.
func (b *Broker) NewConsumer(ctx context.Context, cfg courier.ConsumerConfig) (courier.Consumer, error) {
	return b.Consumer(ctx, cfg, b.cfg.Queue)
}

// Consumer is NewConsumer with a queue shape of its own (its zero fields take the defaults)
// and the concrete type.
func (b *Broker) Consumer(ctx context.Context, cfg courier.ConsumerConfig, q QueueConfig) (*Consumer, error) {
	cfg, err := driver.ConsumerConfig("rabbitmq", cfg, b.cfg.Logger)
	if err != nil {
		return nil, err
	}
	qc := b.cfg
	qc.Queue = q
	if err := qc.Validate(); err != nil {
		return nil, err
	}
	qc = qc.withDefaults()
	for _, t := range cfg.Topics {
		if err := checkWire(courier.Message{Topic: t}); err != nil {
			return nil, fmt.Errorf("rabbitmq: consumer of group %q: %w", cfg.Group, err)
		}
	}
	if len(cfg.Group) > maxShortString {
		return nil, fmt.Errorf("%w: rabbitmq: group (queue name) is %d bytes, AMQP allows %d", courier.ErrInvalidConfig, len(cfg.Group), maxShortString)
	}
	if b.members.Closed() {
		return nil, fmt.Errorf("rabbitmq: new consumer: %w", courier.ErrClosed)
	}
	c := newConsumer(b, cfg, qc.Queue)
	if err := c.declare(ctx); err != nil {
		return nil, err
	}
	if err := b.members.Add(c); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("rabbitmq: new consumer: %w", err)
	}
	return c, nil
}

// Close closes every producer and consumer made from b, then the connections. Idempotent.
func (b *Broker) Close() error {
	if first, _ := b.members.Close(); !first {
		return nil
	}
	err1 := b.pub.close()
	err2 := b.sub.close()
	if err1 != nil {
		return err1
	}
	return err2
}
