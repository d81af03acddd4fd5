package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// Broker is a connection to a Kafka cluster that makes producers and consumers. It is safe
// for concurrent use.
type Broker struct {
	cfg   Config
	sc    *sarama.Config
	log   *slog.Logger
	name  string // for errors: "kafka host:port,..."
	admin sarama.ClusterAdmin
	// client serves metadata, the admin requests and every producer (which share its
	// connections); consumer group members have their own, as their config differs.
	client sarama.Client

	created sync.Map // topic names known to exist, when cfg.CreateTopics

	members driver.Owned // producers and consumers, closed with the broker
}

var _ courier.Broker = (*Broker)(nil)

// New connects to the cluster named by cfg.Brokers. It fails, naming the brokers, if none of
// them can be reached.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	sc, err := cfg.sarama()
	if err != nil {
		return nil, fmt.Errorf("%w: kafka: %w", courier.ErrInvalidConfig, err)
	}
	name := "kafka " + strings.Join(cfg.Brokers, ",")
	client, err := dial(ctx, cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", name, err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("%s: admin client: %w", name, err)
	}
	return &Broker{
		cfg: cfg, sc: sc, name: name, client: client, admin: admin,
		log: cfg.Logger.With("broker", "kafka"),
	}, nil
}

// dial makes a sarama client, giving up when ctx ends (sarama's own dial does not take a
// context; a client that connects after that is closed at once).
func dial(ctx context.Context, addrs []string, sc *sarama.Config) (sarama.Client, error) {
	type result struct {
		c   sarama.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := sarama.NewClient(addrs, sc)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// NewProducer returns a producer that shares the broker's connections.
func (b *Broker) NewProducer(ctx context.Context) (courier.Producer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.members.Closed() {
		return nil, courier.ErrClosed
	}
	p, err := newProducer(b)
	if err != nil {
		return nil, err
	}
	if err := b.members.Add(p); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// NewConsumer returns a member of cfg.Group. The group's offsets are settled before it
// returns: with StartNewest, the current end of each partition the group has not committed
// yet is committed for it, so a message sent after NewConsumer returns is delivered even if
// Consume starts later.
func (b *Broker) NewConsumer(ctx context.Context, cfg courier.ConsumerConfig) (courier.Consumer, error) {
	cfg, err := driver.ConsumerConfig("kafka", cfg, b.cfg.Logger)
	if err != nil {
		return nil, err
	}
	if b.members.Closed() {
		return nil, courier.ErrClosed
	}
	if b.cfg.CreateTopics {
		for _, t := range cfg.Topics {
			if err := b.ensureTopic(ctx, t); err != nil {
				return nil, err
			}
		}
	}
	c, err := newConsumer(ctx, b, cfg)
	if err != nil {
		return nil, err
	}
	if err := b.members.Add(c); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every producer and consumer made from b, then its connections. Idempotent.
func (b *Broker) Close() error {
	first, err := b.members.Close()
	if !first {
		return nil
	}
	errs := []error{err}
	if err := b.admin.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		errs = append(errs, fmt.Errorf("%s: close: %w", b.name, err))
	}
	return errors.Join(errs...)
}
