package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/dispatch"
)

// fetchLimit is how many messages a consumer takes from one topic at a time: small, so that the
// other consumers of its group get their share while it is busy.
const fetchLimit = 64

type consumer struct {
	b    *Broker
	cfg  courier.ConsumerConfig
	subs []*sub

	wakeup chan struct{} // one pending wake-up is enough: the loop fetches all there is

	mu        sync.Mutex
	consuming bool
	closed    bool
	stop      context.CancelFunc // ends the running Consume
	stopped   chan struct{}      // closed when the running Consume has returned
}

func newConsumer(b *Broker, cfg courier.ConsumerConfig) *consumer {
	return &consumer{b: b, cfg: cfg, wakeup: make(chan struct{}, 1)}
}

func (c *consumer) wake() {
	select {
	case c.wakeup <- struct{}{}:
	default:
	}
}

// Consume runs h on the group's messages until ctx ends or Close is called.
func (c *consumer) Consume(ctx context.Context, h courier.MessageHandler) error {
	if h == nil {
		return fmt.Errorf("%w: memory: Consume needs a handler", courier.ErrInvalidConfig)
	}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return courier.ErrClosed
	case c.consuming:
		c.mu.Unlock()
		return errors.New("memory: Consume is already running on this consumer")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.consuming = true
	c.stop = cancel
	c.stopped = make(chan struct{})
	c.mu.Unlock()
	defer close(c.stopped)

	eng := dispatch.New(ctx, h, settler{}, dispatch.FromConsumerConfig("memory", c.cfg))
	defer eng.Close()

	buf := make([]courier.Message, 0, fetchLimit)
	for {
		fetched := 0
		for _, s := range c.subs {
			buf = s.fetch(buf[:0], fetchLimit)
			fetched += len(buf)
			for i, m := range buf {
				if err := eng.Submit(ctx, dispatch.Delivery{Msg: m, Ref: s}); err != nil {
					for _, rest := range buf[i:] {
						s.release(rest)
					}
					return nil // ctx ended or Close was called
				}
			}
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
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	stopped := c.stopped
	if c.stop != nil {
		c.stop()
	}
	c.mu.Unlock()
	if stopped != nil {
		<-stopped
	}
	for _, s := range c.subs {
		s.leave()
	}
	c.b.forget(c)
	return nil
}

// settler settles deliveries on the subscription they came from.
type settler struct{}

func (settler) Ack(_ context.Context, d dispatch.Delivery) error {
	d.Ref.(*sub).ack(d.Msg)
	return nil
}

func (settler) Retry(_ context.Context, d dispatch.Delivery) (dispatch.Delivery, error) {
	d.Msg.Attempt++
	return d, nil
}

func (settler) Release(d dispatch.Delivery) { d.Ref.(*sub).release(d.Msg) }
