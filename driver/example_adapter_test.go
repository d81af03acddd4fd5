package driver_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// chanBroker is an adapter in miniature: its "broker" is a Go channel that all topics and
// groups share, and it forgets a message once it is handled. It shows where each piece of
// package driver goes; package logbroker (driver/example/logbroker) is the complete model,
// which passes brokertest.Run.
type chanBroker struct {
	ch    chan courier.Message
	owned driver.Owned // what Close closes

	mu   sync.Mutex
	back []courier.Message // released by a consumer: delivered again first
}

func (b *chanBroker) NewProducer(context.Context) (courier.Producer, error) {
	p := &chanProducer{b: b}
	if err := b.owned.Add(p); err != nil {
		return nil, err // courier.ErrClosed
	}
	return p, nil
}

func (b *chanBroker) NewConsumer(_ context.Context, cfg courier.ConsumerConfig) (courier.Consumer, error) {
	cfg, err := driver.ConsumerConfig("chan", cfg, nil) // validated, with defaults
	if err != nil {
		return nil, err
	}
	c := &chanConsumer{b: b, cfg: cfg}
	c.guard.Name = fmt.Sprintf("chan: group %q", cfg.Group)
	if err := b.owned.Add(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (b *chanBroker) Close() error { _, err := b.owned.Close(); return err }

type chanProducer struct {
	b      *chanBroker
	closed atomic.Bool
}

func (p *chanProducer) Send(ctx context.Context, msg courier.Message) error {
	if p.closed.Load() {
		return courier.ErrClosed
	}
	msg, err := driver.Prepare(msg) // fills ID and Timestamp, refuses what is invalid
	if err != nil {
		return fmt.Errorf("chan: send %s: %w", msg.Topic, err)
	}
	select {
	case p.b.ch <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *chanProducer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = p.Send(ctx, m)
	}
	return driver.NewBatchError(errs) // nil, or a *courier.BatchError saying which failed
}

func (p *chanProducer) Close() error { p.closed.Store(true); p.b.owned.Remove(p); return nil }

type chanConsumer struct {
	b     *chanBroker
	cfg   courier.ConsumerConfig
	guard driver.Guard // one Consume at a time; Close ends it
}

func (c *chanConsumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
	ctx, finish, _, err := c.guard.Start(ctx, h)
	if err != nil {
		return err
	}
	defer finish(&err)
	eng := driver.NewEngine(ctx, h, settler{c.b}, driver.FromConsumerConfig("chan", c.cfg))
	defer eng.Close() // drains, then releases what was not handled
	for {
		var m courier.Message
		c.b.mu.Lock()
		if len(c.b.back) > 0 {
			m, c.b.back = c.b.back[0], c.b.back[1:]
		}
		c.b.mu.Unlock()
		if m.ID == "" {
			select {
			case m = <-c.b.ch:
			case <-ctx.Done():
				return nil
			}
		}
		m.Attempt++ // the broker's delivery count: 1 the first time
		if err := eng.Submit(ctx, driver.Delivery{Msg: m}); err != nil {
			settler{c.b}.Release(driver.Delivery{Msg: m})
			return nil
		}
	}
}

func (c *chanConsumer) Close() error {
	if c.guard.Close() {
		c.b.owned.Remove(c)
	}
	return nil
}

// settler is the broker's side of the engine.
type settler struct{ b *chanBroker }

func (settler) Ack(_ context.Context, d driver.Delivery) error {
	fmt.Printf("ack %s after %d attempts\n", d.Msg.Value, d.Msg.Attempt)
	return nil
}

func (settler) Retry(_ context.Context, d driver.Delivery) (driver.Delivery, error) {
	d.Msg.Attempt++
	return d, nil
}

func (s settler) Release(d driver.Delivery) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.back = append(s.b.back, d.Msg)
}

// How to write an adapter with package driver: the broker above, put to work.
func Example() {
	ctx := context.Background()
	var b courier.Broker = &chanBroker{ch: make(chan courier.Message, 16)}
	defer b.Close()
	p, _ := b.NewProducer(ctx)
	c, _ := b.NewConsumer(ctx, courier.ConsumerConfig{Group: "g", Topics: []string{"orders"},
		Backoff: courier.Backoff{Initial: 1, Max: 1, Multiplier: 1}})
	_ = p.Send(ctx, courier.Message{Topic: "orders", Key: "k", Value: []byte("first")})
	_ = p.Send(ctx, courier.Message{Topic: "orders", Key: "k", Value: []byte("second")})
	done := make(chan struct{})
	go c.Consume(ctx, courier.HandlerFunc(func(_ context.Context, m courier.Message) error {
		if string(m.Value) == "first" && m.Attempt == 1 {
			return errors.New("not yet") // retried in place: "second" waits
		}
		if string(m.Value) == "second" {
			close(done)
		}
		return nil
	}))
	<-done
	_ = c.Close()
	// Output:
	// ack first after 2 attempts
	// ack second after 1 attempts
}
