package pulsar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pulsarclient "github.com/apache/pulsar-client-go/pulsar"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
	"github.com/courier-go/courier/internal/recordid"
	"github.com/courier-go/courier/internal/uuidv7"
)

// producer sends to any topic through one cached Pulsar producer per topic.
type producer struct {
	b      *Broker
	spread atomic.Uint32 // rotates keyless messages over ordering keys
	// batches holds *batch scratch space for SendBatch, reused once every
	// callback of a batch has run (the client then drops its references).
	batches sync.Pool
	singles sync.Pool // *single, for Send

	mu     sync.Mutex
	closed bool
	topics map[route]*topicProducer
}

var _ courier.Producer = (*producer)(nil)

// topicProducer is a Pulsar producer being created (ready open) or made.
type topicProducer struct {
	ready chan struct{}
	p     pulsarclient.Producer
	err   error
}

func newProducer(b *Broker) *producer {
	return &producer{b: b, topics: map[route]*topicProducer{}}
}

// route names the Pulsar producer a message goes through: keyed messages
// use key-based batching, so that a batch holds one key and Key_Shared can
// route it whole; keyless ones, whose order does not matter, use plain
// batching, which costs less.
type route struct {
	topic string
	keyed bool
}

// get returns the Pulsar producer of r, creating it on first use.
func (p *producer) get(ctx context.Context, r route) (pulsarclient.Producer, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, courier.ErrClosed
	}
	tp, ok := p.topics[r]
	if !ok {
		tp = &topicProducer{ready: make(chan struct{})}
		p.topics[r] = tp
		p.mu.Unlock()
		tp.p, tp.err = p.create(r)
		p.mu.Lock()
		if tp.err != nil {
			delete(p.topics, r) // the next send tries again
		} else if p.closed {
			tp.p.Close()
			tp.err = courier.ErrClosed
		}
		close(tp.ready)
	}
	p.mu.Unlock()
	select {
	case <-tp.ready:
		return tp.p, tp.err
	case <-ctx.Done():
		return nil, fmt.Errorf("pulsar: send %s: create producer: %w", r.topic, ctx.Err())
	}
}

var compressionTypes = [...]pulsarclient.CompressionType{
	CompressNone: pulsarclient.NoCompression,
	CompressLZ4:  pulsarclient.LZ4,
	CompressZLib: pulsarclient.ZLib,
	CompressZSTD: pulsarclient.ZSTD,
}

func (p *producer) create(r route) (pulsarclient.Producer, error) {
	cfg := p.b.cfg
	opts := pulsarclient.ProducerOptions{
		Topic:                   r.topic,
		SendTimeout:             cfg.SendTimeout,
		DisableBatching:         cfg.DisableBatching,
		BatchingMaxPublishDelay: cfg.BatchingDelay,
		CompressionType:         compressionTypes[cfg.Compression],
	}
	if r.keyed {
		opts.BatcherBuilderType = pulsarclient.KeyBasedBatchBuilder
	}
	pp, err := p.b.client.CreateProducer(opts)
	if err != nil {
		return nil, fmt.Errorf("pulsar: send %s: create producer: %w", r.topic, err)
	}
	return pp, nil
}

// prepare validates msg and checks its size; see recordid.Prepare for now and callerID.
func (p *producer) prepare(msg courier.Message, now *time.Time) (_ courier.Message, callerID bool, err error) {
	m, callerID, err := recordid.Prepare(msg, now)
	if err != nil {
		return m, false, fmt.Errorf("pulsar: send %s: %w", msg.Topic, err)
	}
	size, limit := m.Size(), p.b.cfg.MaxMessageBytes
	if !callerID {
		size += uuidv7.Len // the ID the consumer derives, counted as every broker counts a filled ID
	}
	if size > limit {
		return m, false, fmt.Errorf("pulsar: send %s: %w: %d bytes, limit %d (Config.MaxMessageBytes)",
			m.Topic, courier.ErrMessageTooLarge, size, limit)
	}
	return m, callerID, nil
}

// Send sends msg and returns once the broker has stored it.
func (p *producer) Send(ctx context.Context, msg courier.Message) error {
	var now time.Time
	m, callerID, err := p.prepare(msg, &now)
	if err != nil {
		return err
	}
	pp, err := p.get(ctx, route{m.Topic, m.Key != ""})
	if err != nil {
		return err
	}
	one, _ := p.singles.Get().(*single)
	if one == nil {
		one = &single{props: make(map[string]string, len(m.Headers)+1)}
	}
	encode(&one.pm, one.props, m, p.spread.Add(1), callerID)
	if _, err := pp.Send(ctx, &one.pm); err != nil {
		// The client may still hold the message (Send returns early when
		// ctx ends): leave it to the garbage collector.
		return p.sendError(m.Topic, err)
	}
	one.pm = pulsarclient.ProducerMessage{}
	clear(one.props)
	p.singles.Put(one)
	return nil
}

// single is Send's message and property map, reused once the client has
// confirmed the message (it then holds no reference to it).
type single struct {
	pm    pulsarclient.ProducerMessage
	props map[string]string
}

// SendBatch sends all msgs at once, so that the client batches them, and
// waits for every receipt. Every message is validated and encoded before the
// first is handed to the client, so that they reach its batch in one burst
// rather than spread out enough for the batching delay to split them.
func (p *producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	b, _ := p.batches.Get().(*batch)
	if b == nil {
		b = &batch{p: p}
	}
	b.start(msgs)
	var used []pulsarclient.Producer // each producer once, in first-use order
	var last struct {
		r  route
		pp pulsarclient.Producer
	}
	var now time.Time
	for i, msg := range msgs {
		m, callerID, err := p.prepare(msg, &now)
		if err != nil {
			b.errs[i] = err
			continue
		}
		r := route{m.Topic, m.Key != ""}
		if last.pp == nil || r != last.r {
			pp, err := p.get(ctx, r)
			if err != nil {
				b.errs[i] = err
				continue
			}
			last.r, last.pp = r, pp
			if !slices.Contains(used, pp) {
				used = append(used, pp)
			}
		}
		b.pps[i] = last.pp
		encode(&b.pms[i], b.props[i], m, p.spread.Add(1), callerID)
	}
	for i, pp := range b.pps {
		if pp != nil {
			b.wg.Add(1)
			pp.SendAsync(ctx, &b.pms[i], b.callbacks[i])
		}
	}
	for _, pp := range used {
		// Send what is batched now rather than after the batching delay.
		_ = pp.FlushWithCtx(ctx)
	}
	b.wg.Wait() // every callback runs: on receipt, error, or the send timeout
	errs := b.errs
	b.finish()
	if len(msgs) <= maxPooledBatch {
		p.batches.Put(b)
	}
	return driver.NewBatchError(errs)
}

// maxPooledBatch bounds the scratch space kept for reuse: a rare huge batch
// is left to the garbage collector rather than held on to.
const maxPooledBatch = 4096

// batch is SendBatch's scratch space: the Pulsar messages, their property
// maps and their callbacks, kept between batches because allocating them per
// message costs more than encoding does.
type batch struct {
	p         *producer
	msgs      []courier.Message
	errs      []error
	wg        sync.WaitGroup
	pms       []pulsarclient.ProducerMessage
	props     []map[string]string
	pps       []pulsarclient.Producer // nil where the message failed before sending
	callbacks []func(pulsarclient.MessageID, *pulsarclient.ProducerMessage, error)
}

// start readies b for msgs.
func (b *batch) start(msgs []courier.Message) {
	n := len(msgs)
	b.msgs, b.errs = msgs, make([]error, n) // errs goes to the caller: never reused
	if cap(b.pms) < n {
		b.pms = make([]pulsarclient.ProducerMessage, n)
		b.pps = make([]pulsarclient.Producer, n)
	}
	if c := cap(b.props); c < n {
		b.props = append(b.props[:c], make([]map[string]string, n-c)...) // keeps the maps it has
	}
	b.pms, b.pps, b.props = b.pms[:n], b.pps[:n], b.props[:n]
	for i, hs := range msgs {
		if b.props[i] == nil {
			b.props[i] = make(map[string]string, len(hs.Headers)+1)
		}
	}
	for i := len(b.callbacks); i < n; i++ {
		b.callbacks = append(b.callbacks, func(_ pulsarclient.MessageID, _ *pulsarclient.ProducerMessage, err error) {
			if err != nil {
				b.errs[i] = b.p.sendError(b.msgs[i].Topic, err)
			}
			b.wg.Done()
		})
	}
}

// finish drops b's references to the batch just sent, so that the pool
// holds no message data.
func (b *batch) finish() {
	b.msgs, b.errs = nil, nil
	clear(b.pms)
	clear(b.pps)
	for _, m := range b.props {
		clear(m)
	}
}

func (p *producer) sendError(topic string, err error) error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed || errors.Is(err, pulsarclient.ErrProducerClosed) {
		return fmt.Errorf("pulsar: send %s: %w", topic, courier.ErrClosed)
	}
	if errors.Is(err, pulsarclient.ErrMessageTooLarge) {
		// The broker's own limit, announced when the client connected, is below
		// Config.MaxMessageBytes.
		return fmt.Errorf("pulsar: send %s: %w: over the broker's maxMessageSize (Config.MaxMessageBytes is above it): %w",
			topic, courier.ErrMessageTooLarge, err)
	}
	return fmt.Errorf("pulsar: send %s: %w", topic, err)
}

// Close flushes and closes every topic's producer. Idempotent.
func (p *producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	topics := p.topics
	p.topics = nil
	p.mu.Unlock()
	for _, tp := range topics {
		<-tp.ready
		if tp.err == nil {
			tp.p.Close()
		}
	}
	p.b.members.Remove(p)
	return nil
}
