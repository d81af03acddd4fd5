package rabbitmq

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// Consumer consumes its group's queues of its topics with manual acks through the shared
// dispatch engine, and comes back by itself after the connection or its channel is lost. It
// implements courier.Consumer.
type Consumer struct {
	b        *Broker
	cfg      courier.ConsumerConfig
	q        QueueConfig
	queues   []string // the queue of each of cfg.Topics, in order
	prefetch int
	log      *slog.Logger

	guard driver.Guard
}

func newConsumer(b *Broker, cfg courier.ConsumerConfig, q QueueConfig) *Consumer {
	c := &Consumer{
		b:        b,
		cfg:      cfg,
		q:        q,
		prefetch: b.cfg.prefetch(cfg.Concurrency),
		log:      cfg.Logger.With("broker", "rabbitmq", "group", cfg.Group),
	}
	for _, t := range cfg.Topics {
		c.queues = append(c.queues, QueueName(cfg.Group, t))
	}
	c.guard.Name = fmt.Sprintf("rabbitmq: group %q", cfg.Group)
	return c
}

// QueueName is the name of the durable queue that holds a group's messages of one topic:
// the group, with its dots and percent signs escaped (%2E, %25), a dot, and the topic, so
// that no two pairs of group and topic share a queue. A name longer than AMQP's 255 bytes is
// cut, and ends with a hash of the whole instead.
//
// A queue per group and topic is what gives RabbitMQ the semantics of a group on every other
// broker: a consumer of group G on topic A receives A's messages only, however many topics
// other consumers of G read, and the consumers of G on A share A's messages.
func QueueName(group, topic string) string {
	name := strings.NewReplacer("%", "%25", ".", "%2E").Replace(group) + "." + topic
	if len(name) <= maxShortString {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "~" + hex.EncodeToString(sum[:12])
	cut := maxShortString - len(suffix)
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut-- // never split a character
	}
	return name[:cut] + suffix
}

// queueArgs are the x-arguments of the group's queues. Declaring an existing queue with other
// arguments fails (PRECONDITION_FAILED), which the error reports.
func (c *Consumer) queueArgs() amqp.Table {
	args := amqp.Table{"x-queue-type": string(c.q.Type)}
	if c.q.DeadLetterExchange != "" {
		args["x-dead-letter-exchange"] = c.q.DeadLetterExchange
	}
	if c.q.DeliveryLimit != 0 {
		args["x-delivery-limit"] = int64(c.q.DeliveryLimit)
	}
	if c.q.SingleActiveConsumer {
		args["x-single-active-consumer"] = true
	}
	return args
}

// declareOn declares, for each topic, its exchange, the group's queue of it and the binding
// between them, on ch.
func (c *Consumer) declareOn(ch *amqp.Channel) error {
	args := c.queueArgs()
	for i, t := range c.cfg.Topics {
		q := c.queues[i]
		if err := ch.ExchangeDeclare(t, c.b.cfg.ExchangeType, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s (type %s): %w", t, c.b.cfg.ExchangeType, err)
		}
		if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
			return fmt.Errorf("declare queue %q (%s) on %s: %w", q, c.q.Type, t, err)
		}
		if err := ch.QueueBind(q, c.q.BindingKey, t, false, nil); err != nil {
			return fmt.Errorf("bind queue %q to exchange %s: %w", q, t, err)
		}
	}
	return nil
}

// declare declares the topology on the broker's declaration channel.
func (c *Consumer) declare(ctx context.Context) error {
	return c.b.sub.declare(ctx, c.declareOn)
}

// Consume runs h on the group's messages until ctx ends or Close is called, then returns nil.
// A lost connection or channel is reopened with backoff and consuming goes on; the deliveries
// it had not acknowledged come back from the broker. It returns an error only when the broker
// refuses the group's topology (a queue declared earlier with other arguments, say).
func (c *Consumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
	ctx, finish, _, err := c.guard.Start(ctx, h)
	if err != nil {
		return err
	}
	defer finish(&err)

	ecfg := driver.FromConsumerConfig("rabbitmq", c.cfg)
	ecfg.QueueSize = c.prefetch
	eng := driver.NewEngine(ctx, h, settler{c}, ecfg)
	defer eng.Close()

	for attempt := 1; ctx.Err() == nil; attempt++ {
		s, err := c.open(ctx, eng)
		if err != nil {
			err = fmt.Errorf("rabbitmq: consume %s: group %q: %w", strings.Join(c.cfg.Topics, ","), c.cfg.Group, err)
			if ctx.Err() != nil || errors.Is(err, courier.ErrClosed) {
				break // Close, or the broker closed under us
			}
			if refused(err) {
				return err
			}
			delay := c.b.cfg.ReconnectBackoff.Delay(attempt)
			c.log.Warn("rabbitmq: cannot consume yet; retrying", "err", err, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}
		attempt = 0
		if lost := s.run(ctx, eng); lost != nil {
			c.log.Warn("rabbitmq: consuming channel lost; resuming", "err", lost)
			s.kill() // its deliveries will come back from the broker: drop what the engine holds
			continue
		}
		// Shutting down: stop deliveries, let the engine drain and release on this channel,
		// then send the last acks and close it.
		s.cancelConsumer()
		eng.Close()
		s.close()
	}
	return nil
}

// refused reports whether the broker refused the topology or access (not a lost connection),
// which retrying will not fix.
func refused(err error) bool {
	var ae *amqp.Error
	if !errors.As(err, &ae) || !ae.Server {
		return false
	}
	switch ae.Code {
	case amqp.PreconditionFailed, amqp.AccessRefused, amqp.NotAllowed, amqp.ResourceLocked, amqp.NotImplemented:
		return true
	}
	return false
}

// open opens a channel, declares the topology on it, and starts consuming.
func (c *Consumer) open(ctx context.Context, eng *driver.Engine) (*session, error) {
	ch, _, err := c.b.sub.channel(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*session, error) {
		_ = ch.Close()
		return nil, err
	}
	if err := ch.Qos(c.prefetch, 0, false); err != nil {
		return fail(fmt.Errorf("set prefetch %d: %w", c.prefetch, err))
	}
	if err := c.declareOn(ch); err != nil {
		return fail(err)
	}
	tag := consumerTag()
	var tags []string
	var sources []<-chan amqp.Delivery
	for i, q := range c.queues {
		qtag := fmt.Sprintf("%s-%d", tag, i)
		deliveries, err := ch.Consume(q, qtag, false, false, false, false, nil)
		if err != nil {
			return fail(fmt.Errorf("consume queue %q: %w", q, err))
		}
		tags, sources = append(tags, qtag), append(sources, deliveries)
	}
	return newSession(c, ch, tags, sources, eng), nil
}

func consumerTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "courier-" + hex.EncodeToString(b[:])
}

// Close stops Consume, waits for it to drain (bounded by DrainTimeout), and is idempotent.
func (c *Consumer) Close() error {
	if !c.guard.Close() {
		return nil
	}
	c.b.members.Remove(c)
	return nil
}

// errSessionLost is the error of settling a delivery whose channel is gone: delivery tags
// belong to their channel, so the broker delivers the message again instead.
var errSessionLost = errors.New("the delivery's channel was lost; the broker delivers it again")

// settler settles deliveries on the session (channel) they came from.
type settler struct{ c *Consumer }

func (st settler) Ack(_ context.Context, d driver.Delivery) error {
	return d.Ref.(*session).settle(d.Tag, opAck)
}

// Retry counts an in-place retry in Attempt, or, once Queue.MaxAttempts attempts failed,
// rejects the message so that the broker dead-letters it.
func (st settler) Retry(_ context.Context, d driver.Delivery) (driver.Delivery, error) {
	s := d.Ref.(*session)
	if s.ctx.Err() != nil {
		return d, errSessionLost
	}
	if max := st.c.q.MaxAttempts; max > 0 && d.Msg.Attempt >= max {
		if err := s.settle(d.Tag, opReject); err != nil {
			return d, err
		}
		return d, fmt.Errorf("rabbitmq: consume %s: message %s failed %d attempts; dead-lettered to exchange %q",
			d.Msg.Topic, d.Msg.ID, d.Msg.Attempt, st.c.q.DeadLetterExchange)
	}
	d.Msg.Attempt++
	return d, nil
}

func (st settler) Release(d driver.Delivery) {
	_ = d.Ref.(*session).settle(d.Tag, opRequeue)
}
