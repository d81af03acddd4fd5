package memory

import (
	"context"
	"fmt"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// fetchLimit is how many messages a consumer takes from one topic at a time: small, so that the
// other consumers of its group get their share while it is busy.
const fetchLimit = 64

type consumer struct {
	b     *Broker
	cfg   courier.ConsumerConfig
	subs  []*sub
	guard driver.Guard

	wakeup chan struct{} // one pending wake-up is enough: the loop fetches all there is
}

func newConsumer(b *Broker, cfg courier.ConsumerConfig) *consumer {
	c := &consumer{b: b, cfg: cfg, wakeup: make(chan struct{}, 1)}
	c.guard.Name = fmt.Sprintf("memory: group %q", cfg.Group)
	return c
}

func (c *consumer) wake() {
	select {
	case c.wakeup <- struct{}{}:
	default:
	}
}

// Consume runs h on the group's messages until ctx ends or Close is called.
func (c *consumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
	ctx, finish, _, err := c.guard.Start(ctx, h)
	if err != nil {
		return err
	}
	defer finish(&err)

	eng := driver.NewEngine(ctx, h, settler{}, driver.FromConsumerConfig("memory", c.cfg))
	defer eng.Close()

	batch := make([]driver.Delivery, 0, fetchLimit)
	for {
		fetched := 0
		for _, s := range c.subs {
			batch = s.fetch(batch[:0], fetchLimit)
			fetched += len(batch)
			if n, err := eng.SubmitAll(ctx, batch); err != nil {
				for _, rest := range batch[n:] {
					s.release(rest.Msg)
				}
				return nil // ctx ended or Close was called
			}
			clear(batch) // let delivered payloads go once handled
		}
		if fetched > 0 {
			continue
		}
		select {
		case <-c.wakeup:
		case <-ctx.Done():
			return nil
		}
	}
}

// Close stops Consume, waits for it to drain, and leaves the group. Idempotent.
func (c *consumer) Close() error {
	if c.guard.Close() {
		for _, s := range c.subs {
			s.leave()
		}
		c.b.forget(c)
	}
	return nil
}

// settler settles deliveries on the subscription they came from.
type settler struct{}

func (settler) Ack(_ context.Context, d driver.Delivery) error {
	d.Ref.(*sub).ack(d.Msg)
	return nil
}

func (settler) Retry(_ context.Context, d driver.Delivery) (driver.Delivery, error) {
	d.Msg.Attempt++
	return d, nil
}

func (settler) Release(d driver.Delivery) { d.Ref.(*sub).release(d.Msg) }
