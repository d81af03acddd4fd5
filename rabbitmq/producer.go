package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// SendOption adjusts one SendWith or SendBatchWith call.
type SendOption func(*sendOptions)

type sendOptions struct {
	ttl time.Duration
}

// WithTTL gives the messages a time to live (the AMQP expiration property, in milliseconds,
// at least 1): a message still in a queue after d is removed by the broker, and dead-lettered
// if the queue has a DeadLetterExchange. It replaces the seed's PublishWithTTL.
func WithTTL(d time.Duration) SendOption {
	return func(o *sendOptions) { o.ttl = d }
}

// maxLostRounds bounds how often one call publishes again after the broker closed the channel
// for a reason other than a lost connection (an exchange deleted under us).
const maxLostRounds = 3

// Producer publishes with publisher confirms on a small pool of channels. It implements
// courier.Producer; SendWith and SendBatchWith add RabbitMQ options.
type Producer struct {
	b     *Broker
	conn  *conn
	slots []slot
	rr    atomic.Uint32

	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup
	// abortCtx ends when Close gives up waiting for Sends in flight: they stop waiting for a
	// reconnect or a confirm and fail with courier.ErrClosed.
	abortCtx context.Context
	abort    context.CancelFunc
}

// slot holds one publishing channel, replaced when it dies. Sends read it without locking;
// lock, a channel so that waiting for it respects the caller's context, is taken only to
// replace it.
type slot struct {
	lock chan struct{}
	pc   atomic.Pointer[pubChan]
}

func newProducer(b *Broker) *Producer {
	p := &Producer{b: b, conn: b.pub, slots: make([]slot, b.cfg.PublisherChannels)}
	p.abortCtx, p.abort = context.WithCancel(context.Background())
	for i := range p.slots {
		p.slots[i].lock = make(chan struct{}, 1)
	}
	return p
}

// Send publishes msg and returns once the broker confirmed it. See SendWith.
func (p *Producer) Send(ctx context.Context, msg courier.Message) error {
	return p.SendWith(ctx, msg)
}

// SendWith publishes msg as a persistent message and returns once the broker confirmed it
// (publisher confirms). A broker nack is an error; so is a message no queue receives (it
// wraps courier.ErrUnroutable) unless Config.AllowUnroutable is set. If the connection drops
// before the confirm, the message is published again once reconnected, until ctx ends: a
// duplicate is possible, a loss is not.
func (p *Producer) SendWith(ctx context.Context, msg courier.Message, opts ...SendOption) error {
	var one [1]courier.Message
	one[0] = msg
	errs := p.send(ctx, one[:], opts)
	return errs[0]
}

// SendBatch publishes msgs on one channel, pipelined, and waits for all their confirms. See
// SendBatchWith.
func (p *Producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	return p.SendBatchWith(ctx, msgs)
}

// SendBatchWith publishes msgs in order on one channel without waiting between them, then
// waits for every confirm. Invalid messages fail alone; the error is a *courier.BatchError
// saying which messages were not sent.
func (p *Producer) SendBatchWith(ctx context.Context, msgs []courier.Message, opts ...SendOption) error {
	if len(msgs) == 0 {
		return nil
	}
	return driver.NewBatchError(p.send(ctx, msgs, opts))
}

// send returns one error per message.
func (p *Producer) send(ctx context.Context, in []courier.Message, opts []SendOption) []error {
	errs := make([]error, len(in))
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		for i := range errs {
			errs[i] = fmt.Errorf("rabbitmq: send %s: %w", in[i].Topic, courier.ErrClosed)
		}
		return errs
	}
	p.inflight.Add(1)
	p.mu.RUnlock()
	defer p.inflight.Done()

	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	msgs := make([]courier.Message, len(in))
	pubs := make([]amqp.Publishing, len(in))
	todo := make([]int, 0, len(in))
	for i, m := range in {
		if err := p.prepare(&m); err != nil {
			errs[i] = err
			continue
		}
		msgs[i], pubs[i] = m, encode(m, o.ttl)
		todo = append(todo, i)
	}
	s := &p.slots[int(p.rr.Add(1))%len(p.slots)]
	for round := 0; len(todo) > 0; round++ {
		todo = p.publishRound(ctx, s, msgs, pubs, todo, errs, round)
	}
	return errs
}

// prepare fills and checks m.
func (p *Producer) prepare(m *courier.Message) error {
	prepared, err := driver.Prepare(*m)
	if err == nil {
		err = checkWire(prepared)
	}
	if err == nil && prepared.Size() > p.b.cfg.MaxMessageBytes {
		err = fmt.Errorf("%w: %d bytes, limit %d (Config.MaxMessageBytes)", courier.ErrMessageTooLarge, prepared.Size(), p.b.cfg.MaxMessageBytes)
	}
	if err != nil {
		return fmt.Errorf("rabbitmq: send %s: %w", m.Topic, err)
	}
	*m = prepared
	return nil
}

// publishRound publishes todo on s's channel and waits for the confirms. It sets errs and
// returns the messages to publish again: those whose confirm the channel's loss took away.
func (p *Producer) publishRound(ctx context.Context, s *slot, msgs []courier.Message, pubs []amqp.Publishing, todo []int, errs []error, round int) []int {
	// failAll fails the messages in todo (which may be reassigned before it is called).
	failAll := func(err error) []int {
		if p.abortCtx.Err() != nil {
			err = courier.ErrClosed
		}
		for _, i := range todo {
			errs[i] = fmt.Errorf("rabbitmq: send %s: %w", msgs[i].Topic, err)
		}
		return nil
	}
	if p.isClosed() {
		return failAll(courier.ErrClosed)
	}
	pc, err := p.channel(ctx, s)
	if err != nil {
		return failAll(err)
	}
	todo, err = p.declare(ctx, pc, msgs, todo, errs)
	if err != nil {
		return failAll(err)
	}
	if len(todo) == 0 {
		return nil
	}
	out := pc.publish(msgs, pubs, todo, !p.b.cfg.AllowUnroutable)
	again := make([]int, 0, len(todo)-len(out)) // lost with their channel: publish again
	for k, o := range out {
		i := todo[k]
		select {
		case <-o.dc.Done():
		case <-ctx.Done():
			pc.abandon(out[k:])
			todo = append(again, todo[k:]...)
			return failAll(fmt.Errorf("published, but the broker's confirm did not come before the context ended: %w", ctx.Err()))
		case <-p.abortCtx.Done():
			pc.abandon(out[k:])
			todo = append(again, todo[k:]...)
			return failAll(courier.ErrClosed)
		}
		err := pc.fate(o)
		var lost *lostError
		if errors.As(err, &lost) && lost.retryable() && (lost.cause == nil || lost.cause.Code != amqp.NotFound || round < maxLostRounds) {
			again = append(again, i)
		} else if err != nil {
			errs[i] = fmt.Errorf("rabbitmq: send %s: %w", msgs[i].Topic, err)
		}
	}
	return append(again, todo[len(out):]...)
}

// declare declares the exchanges of the messages in todo, once per connection. A message
// whose exchange cannot be declared fails; the rest go on. The error is for a lost connection
// or an ended context, which fail them all.
func (p *Producer) declare(ctx context.Context, pc *pubChan, msgs []courier.Message, todo []int, errs []error) ([]int, error) {
	last := ""
	var lastErr error
	kept := todo[:0:0]
	for _, i := range todo {
		t := msgs[i].Topic
		if t != last {
			last, lastErr = t, p.conn.declareExchange(ctx, t, pc.gen)
			if lastErr != nil && (connectionLost(lastErr) || ctx.Err() != nil || errors.Is(lastErr, courier.ErrClosed)) {
				return nil, lastErr
			}
		}
		if lastErr != nil {
			errs[i] = fmt.Errorf("rabbitmq: send %s: %w", t, lastErr)
			continue
		}
		kept = append(kept, i)
	}
	return kept, nil
}

// channel returns s's live channel, opening a new one (waiting for a reconnect if need be)
// when it has none.
func (p *Producer) channel(ctx context.Context, s *slot) (*pubChan, error) {
	if pc := s.pc.Load(); pc != nil && pc.alive() {
		return pc, nil
	}
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.lock }()
	if pc := s.pc.Load(); pc != nil {
		if pc.alive() {
			return pc, nil // another Send replaced it meanwhile
		}
		pc.close()
		s.pc.Store(nil)
	}
	// Waiting for a reconnect: Close's abort must end the wait too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(p.abortCtx, cancel)()
	ch, gen, err := p.conn.channel(ctx)
	if err != nil {
		return nil, err
	}
	pc, err := newPubChan(p.conn, ch, gen)
	if err != nil {
		return nil, err
	}
	if p.isClosed() { // Close ran while we waited: it will not see this channel
		pc.close()
		return nil, courier.ErrClosed
	}
	s.pc.Store(pc)
	return pc, nil
}

func (p *Producer) isClosed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed
}

// Close waits (up to Config.CloseTimeout) for the Sends in flight to be confirmed, then closes
// the producer's channels. Sends after Close fail with courier.ErrClosed. Idempotent.
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	drained := make(chan struct{})
	go func() { p.inflight.Wait(); close(drained) }()
	t := time.NewTimer(p.b.cfg.CloseTimeout)
	select {
	case <-drained:
	case <-t.C:
		p.b.log.Warn("rabbitmq: producer close timeout; Sends in flight fail", "timeout", p.b.cfg.CloseTimeout)
	}
	t.Stop()
	p.abort()
	for i := range p.slots {
		s := &p.slots[i]
		s.lock <- struct{}{}
		if pc := s.pc.Swap(nil); pc != nil {
			pc.close()
		}
		<-s.lock
	}
	<-drained
	p.b.members.Remove(p)
	return nil
}
