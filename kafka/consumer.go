package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// consumer is one member of a consumer group.
type consumer struct {
	b      *Broker
	cfg    courier.ConsumerConfig
	log    *slog.Logger
	client sarama.Client // the group's own: its config carries the group settings
	group  sarama.ConsumerGroup
	logged chan struct{} // closed when the goroutine logging group errors has ended

	guard driver.Guard
}

func newConsumer(ctx context.Context, b *Broker, cfg courier.ConsumerConfig) (*consumer, error) {
	sc := b.cfg.consumerSarama(b.client.Config(), cfg)
	parts, err := b.partitions(cfg.Topics)
	if err != nil {
		return nil, err
	}
	if cfg.StartFrom == courier.StartNewest {
		if err := b.commitNewest(ctx, cfg.Group, parts); err != nil {
			return nil, err
		}
	}
	client, err := dial(ctx, b.cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka: new consumer group %q: connect: %w", cfg.Group, err)
	}
	group, err := sarama.NewConsumerGroupFromClient(cfg.Group, client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafka: new consumer group %q: %w", cfg.Group, err)
	}
	c := &consumer{
		b: b, cfg: cfg, client: client, group: group,
		log:    cfg.Logger.With("broker", "kafka", "group", cfg.Group),
		logged: make(chan struct{}),
	}
	c.guard.Name = fmt.Sprintf("kafka: group %q", cfg.Group)
	go c.logErrors()
	return c, nil
}

// As is the escape hatch to the member's sarama.ConsumerGroup (to pause and resume partitions,
// say): target must be a *sarama.ConsumerGroup. See Broker.NewConsumer.
func (c *consumer) As(target any) bool {
	t, ok := target.(*sarama.ConsumerGroup)
	if ok && t != nil {
		*t = c.group
	}
	return ok && t != nil
}

// logErrors logs what the group reports in the background (failed fetches and commits,
// which sarama retries) until the group is closed.
func (c *consumer) logErrors() {
	defer close(c.logged)
	for err := range c.group.Errors() {
		c.log.Warn("kafka: consumer group error", "err", err)
	}
}

// Consume runs h on the group's messages until ctx ends or Close is called.
func (c *consumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
	ctx, finish, _, err := c.guard.Start(ctx, h)
	if err != nil {
		return err
	}
	defer finish(&err)

	eng := driver.NewEngine(ctx, h, settler{}, engineConfig(c.cfg))
	defer eng.Close()
	gh := &groupHandler{c: c, eng: eng, bytes: newBudget(queueBytes)}
	for failures := 0; ctx.Err() == nil; {
		// Consume joins the group and returns when the session ends: at a rebalance, then
		// it is called again for the next one, or when ctx ends.
		err := c.group.Consume(ctx, c.cfg.Topics, gh)
		switch {
		case err == nil || ctx.Err() != nil:
			failures = 0
			continue
		case errors.Is(err, sarama.ErrClosedConsumerGroup):
			return nil
		case errors.Is(err, sarama.ErrGroupAuthorizationFailed), errors.Is(err, sarama.ErrTopicAuthorizationFailed):
			return fmt.Errorf("kafka: consume %s: group %q: %w", strings.Join(c.cfg.Topics, ","), c.cfg.Group, err)
		}
		failures++
		delay := c.cfg.Backoff.Delay(failures)
		c.log.Warn("kafka: consumer group session failed; joining again", "topics", c.cfg.Topics, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return nil
}

// Close stops Consume, lets in-flight handlers finish within DrainTimeout, commits what was
// handled, and leaves the group. Idempotent.
func (c *consumer) Close() error {
	var err error
	if c.guard.Close() {
		if cerr := c.group.Close(); cerr != nil {
			err = fmt.Errorf("kafka: close consumer group %q: %w", c.cfg.Group, cerr)
		}
		if cerr := c.client.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) && err == nil {
			err = fmt.Errorf("kafka: close consumer group %q: %w", c.cfg.Group, cerr)
		}
		<-c.logged
		c.b.members.Remove(c)
	}
	return err
}

// engineConfig returns the dispatch settings of a consumer.
func engineConfig(cc courier.ConsumerConfig) driver.EngineConfig {
	dc := driver.FromConsumerConfig("kafka", cc)
	dc.QueueSize = max(queueSize, 4*cc.Concurrency)
	return dc
}

// settler settles deliveries on the tracker of the claim they came from.
type settler struct{}

func (settler) Ack(_ context.Context, d driver.Delivery) error {
	d.Ref.(*tracker).ack(d.Msg.Offset)
	return nil
}

// AckAll settles the deliveries one worker handled in a row, taking the tracker of each
// run of them from one partition once.
func (settler) AckAll(_ context.Context, ds []*driver.Delivery) error {
	for i := 0; i < len(ds); {
		tr := ds[i].Ref.(*tracker)
		j := i + 1
		for j < len(ds) && ds[j].Ref.(*tracker) == tr {
			j++
		}
		tr.ackAll(ds[i:j])
		i = j
	}
	return nil
}

// Retry counts the attempt: Kafka has no delivery count of its own. The message is handled
// again in place, so it can always be retried; if its partition was revoked meanwhile, its
// context has ended and the engine releases it instead.
func (settler) Retry(_ context.Context, d driver.Delivery) (driver.Delivery, error) {
	d.Msg.Attempt++
	return d, nil
}

func (settler) Release(d driver.Delivery) { d.Ref.(*tracker).release(d.Msg.Offset) }
