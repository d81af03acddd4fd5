package rabbitmq

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	amqp "github.com/rabbitmq/amqp091-go"

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

var _ courier.Broker = (*Broker)(nil)

// New connects to RabbitMQ, retrying (and logging each failure to cfg.Logger) until it
// answers. It fails, naming the address (the URL without its password) and the cause, when
// the URL is wrong or the broker cannot be reached before ctx ends or Config.ConnectTimeout
// passes (even if ctx has no deadline), and at once, wrapping courier.ErrAuthentication, when
// the broker refuses the credentials (403 ACCESS_REFUSED).
//
// There is no constructor on a connection of the caller's (the NewWithClient of the other
// adapters): the Broker dials its connections itself because it must dial them again when
// they drop. An *amqp.Connection, once closed by the broker or the network, never works
// again, and amqp091-go cannot reconnect it; a Broker on a caller's connection would stop
// for good at the first network blip, or would have to dial a new one from settings it does
// not have. Config carries every setting of the dial (URL, TLS, Heartbeat, ConnectionName,
// ConnectTimeout), and As hands out the current connection for calls courier does not cover.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
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
			return nil, fmt.Errorf("rabbitmq: new consumer group %q: %w", cfg.Group, err)
		}
	}
	if len(cfg.Group) > maxShortString {
		return nil, fmt.Errorf("rabbitmq: new consumer: %w: group (queue name) is %d bytes, AMQP allows %d", courier.ErrInvalidConfig, len(cfg.Group), maxShortString)
	}
	if b.members.Closed() {
		return nil, fmt.Errorf("rabbitmq: new consumer: %w", courier.ErrClosed)
	}
	c := newConsumer(b, cfg, qc.Queue)
	if err := c.declare(ctx); err != nil {
		return nil, fmt.Errorf("rabbitmq: new consumer group %q: %w", cfg.Group, err)
	}
	if err := b.members.Add(c); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("rabbitmq: new consumer: %w", err)
	}
	return c, nil
}

// As is the escape hatch to amqp091-go, for the calls courier does not cover (inspecting or
// purging a queue, declaring topology of your own...). target must be a **amqp.Connection
// (of github.com/rabbitmq/amqp091-go): As sets it to the producers' connection of this moment
// and reports true, or reports false while that connection is being re-established or for
// any other target. The connection stays the Broker's: open a channel of your own on it and
// close that, never the connection; after a reconnect it is replaced, so call As again
// rather than keeping it.
//
//	var c *amqp.Connection
//	if b.As(&c) { ch, err := c.Channel(); ...; q, err := ch.QueueDeclarePassive("billing", ...) }
func (b *Broker) As(target any) bool {
	t, ok := target.(**amqp.Connection)
	if !ok || t == nil {
		return false
	}
	c := b.pub.current()
	if c == nil {
		return false
	}
	*t = c
	return true
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
