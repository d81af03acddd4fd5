package logbroker

import (
	"context"
	"fmt"
	"slices"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// fetchLimit is how many messages a consumer takes at a time: few, so that the other
// consumers of its group get their share while it is busy.
const fetchLimit = 16

type consumer struct {
	b      *Broker
	cfg    courier.ConsumerConfig
	groups []*group // the group's place in each of cfg.Topics
	guard  driver.Guard
}

// NewConsumer joins cfg.Group on cfg.Topics, creating the group where it does not exist
// yet: at the start of each log with courier.StartOldest, at its end with StartNewest.
func (b *Broker) NewConsumer(_ context.Context, cfg courier.ConsumerConfig) (courier.Consumer, error) {
	// Validation and defaults, with the broker's Logger where cfg has none.
	cfg, err := driver.ConsumerConfig("logbroker", cfg, b.cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &consumer{b: b, cfg: cfg}
	c.guard.Name = fmt.Sprintf("logbroker: group %q", cfg.Group)
	b.mu.Lock()
	for _, name := range cfg.Topics {
		t := b.topic(name)
		g := t.groups[cfg.Group]
		if g == nil {
			g = &group{t: t, attempts: map[int]int{}}
			if cfg.StartFrom == courier.StartNewest {
				g.next = len(t.log)
			}
			t.groups[cfg.Group] = g
		}
		c.groups = append(c.groups, g)
	}
	b.mu.Unlock()
	if err := b.add(c); err != nil {
		return nil, b.errClosed("new consumer")
	}
	return c, nil
}

// Consume hands the group's messages to h through a driver.Engine until ctx ends or Close
// is called. The named result lets the Guard's finish return the engine's stop error when
// OnExhausted stops the consumer.
func (c *consumer) Consume(ctx context.Context, h courier.MessageHandler) (err error) {
	ctx, finish, _, err := c.guard.Start(ctx, h)
	if err != nil {
		return err
	}
	defer finish(&err)

	eng := driver.NewEngine(ctx, h, settler{c.b}, driver.FromConsumerConfig("logbroker", c.cfg))
	defer eng.Close() // drains the handlers, then releases every delivery not handled

	var batch []driver.Delivery
	for {
		var changed <-chan struct{}
		batch, changed = c.fetch(batch[:0])
		if len(batch) == 0 {
			select {
			case <-changed: // a send or a release: look again
				continue
			case <-ctx.Done():
				return nil
			}
		}
		n, err := eng.SubmitAll(ctx, batch)
		if err != nil { // ctx ended or the engine closed: what it did not take goes back
			for _, d := range batch[n:] {
				settler{c.b}.Release(d)
			}
			return nil
		}
		clear(batch) // let handled payloads go
	}
}

// fetch hands out up to fetchLimit messages of the consumer's topics, redeliveries first,
// each with its delivery count in Attempt. When there are none, it returns the channel
// that is closed when there may be some.
func (c *consumer) fetch(batch []driver.Delivery) ([]driver.Delivery, <-chan struct{}) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	for _, g := range c.groups {
		for len(batch) < fetchLimit {
			off, ok := g.take()
			if !ok {
				break
			}
			g.attempts[off]++
			m := clone(g.t.log[off])
			m.Attempt = g.attempts[off]
			batch = append(batch, driver.Delivery{Msg: m, Ref: g, Tag: uint64(off)})
		}
	}
	return batch, c.b.changed
}

// take returns the offset of the next message to hand out, redeliveries first; the
// broker's lock is held.
func (g *group) take() (off int, ok bool) {
	switch {
	case len(g.redeliver) > 0:
		off, g.redeliver = g.redeliver[0], g.redeliver[1:]
		return off, true
	case g.next < len(g.t.log):
		g.next++
		return g.next - 1, true
	}
	return 0, false
}

// Close stops Consume, waits for its handlers to drain, and leaves the broker's owned set.
// Idempotent. The group keeps its place: a later consumer of it goes on from there.
func (c *consumer) Close() error {
	if c.guard.Close() {
		c.b.owned.Remove(c)
	}
	return nil
}

// settler is the broker's side of the engine: it settles a delivery on the group it came
// from (Delivery.Ref) by its offset (Delivery.Tag).
type settler struct{ b *Broker }

// Ack forgets the delivery count of a handled message: the group is done with it.
func (s settler) Ack(_ context.Context, d driver.Delivery) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	delete(d.Ref.(*group).attempts, int(d.Tag))
	return nil
}

// Retry counts the next attempt of a message the engine retries in place. Attempt comes
// from the broker's count, so that MaxAttempts holds across redeliveries.
func (s settler) Retry(_ context.Context, d driver.Delivery) (driver.Delivery, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	g := d.Ref.(*group)
	g.attempts[int(d.Tag)]++
	d.Msg.Attempt = g.attempts[int(d.Tag)]
	return d, nil
}

// Release hands a message back to its group, in log order among the others handed back,
// and wakes the consumers.
func (s settler) Release(d driver.Delivery) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	g, off := d.Ref.(*group), int(d.Tag)
	i, _ := slices.BinarySearch(g.redeliver, off)
	g.redeliver = slices.Insert(g.redeliver, i, off)
	s.b.broadcast()
}
