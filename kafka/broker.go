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
	log   *slog.Logger
	admin sarama.ClusterAdmin
	// client serves metadata, the admin requests and every producer (which share its
	// connections); consumer group members have their own, as their config differs.
	client sarama.Client
	owned  bool // made by New: Close closes it

	created sync.Map // topic names known to exist, when cfg.CreateTopics

	members driver.Owned // producers and consumers, closed with the broker
}

var _ courier.Broker = (*Broker)(nil)

// New connects to the cluster named by cfg.Brokers, retrying (and logging each failure to
// cfg.Logger) until a broker answers. It fails, naming the brokers and the cause, when none
// answered within cfg.ConnectTimeout (even if ctx has no deadline) or before ctx ends, and at
// once, wrapping courier.ErrAuthentication, when the brokers refuse the SASL credentials.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("kafka: new broker: %w: Config.Brokers is empty (NewWithClient takes a client of your own)", courier.ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	sc, err := cfg.sarama()
	if err != nil {
		return nil, fmt.Errorf("kafka: config: %w: %w", courier.ErrInvalidConfig, err)
	}
	client, err := connect(ctx, cfg, sc, cfg.Logger.With("broker", "kafka"))
	if err != nil {
		return nil, err
	}
	b, err := newBroker(client, true, cfg)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return b, nil
}

// NewWithClient returns a Broker on a sarama client the caller made and owns: the Broker
// never closes it; the caller does, after closing the Broker. Producers send through it, so
// its configuration must return successes and errors (Producer.Return.Successes and
// Producer.Return.Errors, which Send waits on) and speak Kafka 0.11 or later (record
// headers); its acks, idempotence, compression, partitioner, TLS and SASL are the caller's
// choice and cfg's producer settings are ignored (Config.MaxMessageBytes is capped at the
// client's Producer.MaxMessageBytes). Each consumer group member dials the
// client's brokers with a copy of the client's configuration adjusted as cfg says (session
// timeout, commit interval, rebalance strategy...). cfg.Brokers is ignored.
func NewWithClient(client sarama.Client, cfg Config) (*Broker, error) {
	if client == nil {
		return nil, fmt.Errorf("kafka: new broker: %w: NewWithClient needs a client", courier.ErrInvalidConfig)
	}
	if client.Closed() {
		return nil, fmt.Errorf("kafka: new broker: %w: the client is closed", courier.ErrInvalidConfig)
	}
	sc := client.Config()
	var problems []string
	if !sc.Producer.Return.Successes || !sc.Producer.Return.Errors {
		problems = append(problems, "the client's config must set Producer.Return.Successes and Producer.Return.Errors")
	}
	if !sc.Version.IsAtLeast(sarama.V0_11_0_0) {
		problems = append(problems, fmt.Sprintf("the client speaks Kafka %s; record headers need 0.11 or later", sc.Version))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("kafka: new broker: %w: %s", courier.ErrInvalidConfig, strings.Join(problems, "; "))
	}
	cfg.Brokers = nil
	for _, br := range client.Brokers() {
		cfg.Brokers = append(cfg.Brokers, br.Addr())
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.MaxMessageBytes = min(cfg.MaxMessageBytes, sc.Producer.MaxMessageBytes)
	return newBroker(client, false, cfg)
}

func newBroker(client sarama.Client, owned bool, cfg Config) (*Broker, error) {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("kafka: new broker: admin client: %w", err)
	}
	return &Broker{
		cfg: cfg, client: client, owned: owned, admin: admin,
		log: cfg.Logger.With("broker", "kafka"),
	}, nil
}

// As is the escape hatch to the sarama client under the Broker, for the calls courier does
// not cover (metadata, offsets, transactions...). target may be a *sarama.Client (the client
// the Broker's producers and administration share: the caller's own with NewWithClient) or a
// *sarama.ClusterAdmin (an admin client on it): As sets it and reports true; for any other
// target it reports false. Do not close what As hands out: it is the Broker's, and closing
// the admin client closes the client.
//
//	var c sarama.Client
//	if b.As(&c) { parts, err := c.Partitions("orders") }
func (b *Broker) As(target any) bool {
	switch t := target.(type) {
	case *sarama.Client:
		if t != nil {
			*t = b.client
			return true
		}
	case *sarama.ClusterAdmin:
		if t != nil {
			*t = b.admin
			return true
		}
	}
	return false
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
//
// The consumer has an As method, like the Broker's, that hands out its sarama.ConsumerGroup
// (the group stays courier's: do not close it):
//
//	var g sarama.ConsumerGroup
//	if a, ok := c.(interface{ As(any) bool }); ok && a.As(&g) { g.Pause(partitions) }
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

// Close closes every producer and consumer made from b, then its connections (but not a
// client given to NewWithClient). Idempotent.
func (b *Broker) Close() error {
	first, err := b.members.Close()
	if !first {
		return nil
	}
	errs := []error{err}
	if !b.owned {
		return err // the admin client holds nothing but the caller's client
	}
	if err := b.admin.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		errs = append(errs, fmt.Errorf("kafka: close: %w", err))
	}
	return errors.Join(errs...)
}
