package logbroker

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync/atomic"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

type producer struct {
	b      *Broker
	closed atomic.Bool
}

// NewProducer returns a producer; Close closes it, and so does the broker's Close.
func (b *Broker) NewProducer(context.Context) (courier.Producer, error) {
	p := &producer{b: b}
	if err := b.add(p); err != nil {
		return nil, b.errClosed("new producer")
	}
	return p, nil
}

// Send appends msg to its topic's log. Once Send returns, every group of the topic has it.
func (p *producer) Send(ctx context.Context, msg courier.Message) error {
	if err := p.check(ctx); err != nil {
		return err
	}
	m, err := p.prepare(msg)
	if err != nil {
		return err
	}
	p.b.append(m)
	return nil
}

// SendBatch appends the valid messages of msgs to their logs at once, and says which were
// not valid in a *courier.BatchError.
func (p *producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	if err := p.check(ctx); err != nil {
		return err
	}
	errs := make([]error, len(msgs))
	ready := make([]courier.Message, 0, len(msgs))
	for i, msg := range msgs {
		m, err := p.prepare(msg)
		if err != nil {
			errs[i] = err
			continue
		}
		ready = append(ready, m)
	}
	p.b.append(ready...)
	return driver.NewBatchError(errs)
}

// append adds msgs to the logs of their topics and wakes the consumers.
func (b *Broker) append(msgs ...courier.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range msgs {
		t := b.topic(m.Topic)
		t.log = append(t.log, m)
	}
	b.broadcast()
}

// check refuses a send on a closed producer or broker, or with an ended context.
func (p *producer) check(ctx context.Context) error {
	if p.closed.Load() || p.b.owned.Closed() {
		return p.b.errClosed("send")
	}
	return ctx.Err()
}

// prepare validates msg, fills its ID and Timestamp (driver.Prepare), checks its size, and
// returns a copy that the caller's later changes to msg cannot reach.
func (p *producer) prepare(msg courier.Message) (courier.Message, error) {
	m, err := driver.Prepare(msg)
	if err != nil {
		return m, fmt.Errorf("logbroker: send %s: %w", m.Topic, err)
	}
	if size := m.Size(); size > p.b.cfg.MaxMessageBytes {
		return m, fmt.Errorf("%w: logbroker: send %s: message of %d bytes, the limit is %d",
			courier.ErrMessageTooLarge, m.Topic, size, p.b.cfg.MaxMessageBytes)
	}
	return clone(m), nil
}

// clone copies the Value and Headers of m, keeping a nil Value nil: the log's copy and each
// delivery's are apart from the caller's and each other's.
func clone(m courier.Message) courier.Message {
	if m.Value != nil {
		m.Value = bytes.Clone(m.Value)
	}
	if m.Headers != nil {
		m.Headers = maps.Clone(m.Headers)
	}
	return m
}

// Close closes the producer; idempotent. Sends after it fail with courier.ErrClosed.
func (p *producer) Close() error {
	p.closed.Store(true)
	p.b.owned.Remove(p)
	return nil
}
