package pulsar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// consumer is one member of a group: a Pulsar consumer subscribed to the
// group's topics, whose messages go through the dispatch engine.
type consumer struct {
	b      *Broker
	cfg    courier.ConsumerConfig
	pc     pulsarclient.Consumer
	topics map[string]string // client's topic name -> courier topic

	guard driver.Guard
}

var _ courier.Consumer = (*consumer)(nil)

var subscriptionTypes = [...]pulsarclient.SubscriptionType{
	KeyShared: pulsarclient.KeyShared,
	Shared:    pulsarclient.Shared,
	Failover:  pulsarclient.Failover,
	Exclusive: pulsarclient.Exclusive,
}

func newConsumer(b *Broker, cfg courier.ConsumerConfig) (*consumer, error) {
	bc := b.cfg
	opts := pulsarclient.ConsumerOptions{
		// A copy: the client rewrites the names in the slice it is given.
		Topics:                      slices.Clone(cfg.Topics),
		SubscriptionName:            cfg.Group,
		Type:                        subscriptionTypes[bc.SubscriptionType],
		SubscriptionInitialPosition: pulsarclient.SubscriptionPositionLatest,
		ReceiverQueueSize:           bc.ReceiverQueueSize,
		NackRedeliveryDelay:         bc.NackDelay,
	}
	if cfg.StartFrom == courier.StartOldest {
		opts.SubscriptionInitialPosition = pulsarclient.SubscriptionPositionEarliest
	}
	if bc.MaxDeliveries > 0 {
		opts.DLQ = &pulsarclient.DLQPolicy{MaxDeliveries: bc.MaxDeliveries, DeadLetterTopic: bc.DeadLetterTopic}
	}
	pc, err := b.client.Subscribe(opts)
	if err != nil {
		return nil, fmt.Errorf("pulsar: new consumer %s: group %q: subscribe: %w", strings.Join(cfg.Topics, ","), cfg.Group, err)
	}
	topics := make(map[string]string, len(cfg.Topics))
	for _, t := range cfg.Topics {
		topics[canonicalTopic(t)] = t
	}
	c := &consumer{b: b, cfg: cfg, pc: pc, topics: topics}
	c.guard.Name = fmt.Sprintf("pulsar: group %q", cfg.Group)
	return c, nil
}

// As is the escape hatch to the consumer's own pulsar.Consumer, for the calls courier does
// not cover (SeekByTime to replay from a moment, Unsubscribe...): target must be a
// *pulsar.Consumer. See Broker.NewConsumer.
func (c *consumer) As(target any) bool {
	t, ok := target.(*pulsarclient.Consumer)
	if ok && t != nil {
		*t = c.pc
	}
	return ok && t != nil
}

// topicOf maps the client's name of a message's topic (or partition) back to
// the courier topic the group subscribed to.
func (c *consumer) topicOf(name string) string {
	if t, ok := c.topics[name]; ok {
		return t
	}
	if t, ok := c.topics[basePartitionTopic(name)]; ok {
		return t
	}
	return name
}

// Consume runs h on the group's messages until ctx ends or Close is called.
func (c *consumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
	ctx, finish, _, err := c.guard.Start(ctx, h)
	if err != nil {
		return err
	}
	defer finish(&err)
	defer func() {
		if errors.Is(context.Cause(ctx), courier.ErrStop) {
			// OnExhausted stopped this consumer for good: leave the group now, so that what it
			// held (the message it gave up on included) goes to the group's other consumers
			// instead of waiting in this consumer's share of the Key_Shared subscription.
			c.pc.Close()
		}
	}()

	eng := driver.NewEngine(ctx, h, settler{c}, driver.FromConsumerConfig("pulsar", c.cfg))
	defer eng.Close()

	// The client never closes Chan(), even on Close: select on ctx too.
	ch := c.pc.Chan()
	for {
		select {
		case <-ctx.Done():
			return nil
		case cm := <-ch:
			d := driver.Delivery{Msg: decode(cm.Message, c.topicOf(cm.Topic())), Ref: cm.Message}
			if err := eng.Submit(ctx, d); err != nil {
				c.pc.Nack(cm.Message) // not accepted: hand it back
				return nil
			}
		}
	}
}

// Close stops Consume, waits for its handlers to drain, and leaves the group
// (its unacknowledged messages go to the group's other consumers).
// Idempotent.
func (c *consumer) Close() error {
	if !c.guard.Close() {
		return nil
	}
	c.pc.Close()
	c.b.members.Remove(c)
	return nil
}

// settler settles deliveries on the Pulsar consumer.
type settler struct{ c *consumer }

func (s settler) Ack(_ context.Context, d driver.Delivery) error {
	if err := s.c.pc.Ack(d.Ref.(pulsarclient.Message)); err != nil {
		return fmt.Errorf("pulsar: ack %s: message %s: %w", d.Msg.Topic, d.Msg.ID, err)
	}
	return nil
}

// Retry runs the message again in place: Pulsar's redelivery count only
// moves when the broker redelivers, so the attempt is counted here.
func (settler) Retry(_ context.Context, d driver.Delivery) (driver.Delivery, error) {
	d.Msg.Attempt++
	return d, nil
}

// Release hands the message back with a negative ack; the broker redelivers
// it to the group after NackDelay.
func (s settler) Release(d driver.Delivery) { s.c.pc.Nack(d.Ref.(pulsarclient.Message)) }
