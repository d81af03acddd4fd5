package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
	"github.com/courier-go/courier/internal/wake"
)

// ErrOutcomeUnknown is wrapped by the error of a Send whose context ended after its message had
// been handed to the inner producer: the broker may or may not have it.
var ErrOutcomeUnknown = errors.New("batch: message already handed to the broker, outcome unknown")

// Trigger says why a batch was flushed.
type Trigger int

// The flush triggers.
const (
	TriggerCount  Trigger = iota // the batch reached Config.MaxMessages
	TriggerBytes                 // the next message would have taken it past Config.MaxBytes, or it reached it
	TriggerLinger                // Config.Linger passed since its first message
	TriggerClose                 // Close flushed it
)

// String returns the trigger's name: count, bytes, linger or close.
func (t Trigger) String() string {
	switch t {
	case TriggerCount:
		return "count"
	case TriggerBytes:
		return "bytes"
	case TriggerLinger:
		return "linger"
	case TriggerClose:
		return "close"
	}
	return fmt.Sprintf("Trigger(%d)", int(t))
}

// Stats counts what a Producer has flushed.
type Stats struct {
	Batches   int64             // SendBatch calls made on the inner producer
	Messages  int64             // messages in them
	ByTrigger map[Trigger]int64 // batches flushed, by what triggered them
}

// Producer is a courier.Producer that batches the messages of concurrent Send calls into
// SendBatch calls on an inner producer. Create it with New.
type Producer struct {
	inner courier.Producer
	cfg   Config

	wake    chan struct{} // one pending wake-up for the flusher is enough
	stopped chan struct{} // closed when the flusher has returned
	direct  sync.WaitGroup

	mu        sync.Mutex
	cur       *pending   // the batch being filled; nil when none
	ready     []*pending // sealed batches, in the order they were filled
	unsettled int        // messages accepted and not yet settled; bounded by MaxPending
	space     wake.Signal
	closed    bool
	closeErrs []error // failures of batches flushed after Close began
	stats     Stats
	closeOnce sync.Once
	closeErr  error
}

// pending is one batch. Its messages are fixed once taken by the flusher.
type pending struct {
	msgs     []courier.Message
	dropped  []bool // taken back by a Send whose context ended
	live     int
	bytes    int
	deadline time.Time
	trigger  Trigger
	taken    bool
	errs     []error       // one per msgs entry, set before done is closed
	done     chan struct{} // closed when the batch is settled
}

// New returns a Producer sending through inner, which it owns: Close closes inner.
func New(inner courier.Producer, cfg Config) (*Producer, error) {
	if inner == nil {
		return nil, fmt.Errorf("%w: batch: nil inner producer", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Producer{
		inner:   inner,
		cfg:     cfg.withDefaults(),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		stats:   Stats{ByTrigger: make(map[Trigger]int64)},
	}
	go p.flusher()
	return p, nil
}

// Send adds msg to the current batch and returns the result of sending that batch. See the
// package documentation for what happens when ctx ends.
func (p *Producer) Send(ctx context.Context, msg courier.Message) error {
	id := msg.ID
	msg, err := driver.Prepare(msg)
	if err != nil {
		return fmt.Errorf("batch: send to %q: %w", msg.Topic, err)
	}
	size := msg.Size() // with an ID, as most brokers' producers add one
	// An empty ID is left for the broker's producer to fill its own way (Kafka's derives it
	// on the consumer side instead of sending one).
	msg.ID = id
	p.mu.Lock()
	for !p.closed && p.unsettled >= p.cfg.MaxPending {
		if err := p.space.Wait(ctx, &p.mu, nil); err != nil {
			return fmt.Errorf("batch: send to %q: waiting for room among %d pending messages: %w", msg.Topic, p.cfg.MaxPending, err)
		}
	}
	if p.closed {
		p.mu.Unlock()
		return courier.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("batch: send to %q: not sent: %w", msg.Topic, err)
	}
	b := p.cur
	if b != nil && b.live > 0 && b.bytes+size > p.cfg.MaxBytes {
		p.seal(TriggerBytes)
		b = nil
	}
	if b == nil {
		b = &pending{deadline: time.Now().Add(p.cfg.Linger), done: make(chan struct{})}
		p.cur = b
		p.signal() // the flusher arms its linger timer
	}
	idx := len(b.msgs)
	b.msgs = append(b.msgs, msg)
	b.dropped = append(b.dropped, false)
	b.live++
	b.bytes += size
	p.unsettled++
	switch {
	case b.live >= p.cfg.MaxMessages:
		p.seal(TriggerCount)
	case b.bytes >= p.cfg.MaxBytes:
		p.seal(TriggerBytes)
	}
	p.mu.Unlock()

	select {
	case <-b.done:
		return b.errs[idx]
	case <-ctx.Done():
	}
	p.mu.Lock()
	if !b.taken { // still waiting in its batch: take it back, it will never be sent
		b.dropped[idx] = true
		b.live--
		b.bytes -= size
		p.settled(1)
		p.mu.Unlock()
		return fmt.Errorf("batch: send to %q: taken out of its batch, not sent: %w", msg.Topic, ctx.Err())
	}
	p.mu.Unlock()
	select {
	case <-b.done:
		return b.errs[idx]
	default:
		return fmt.Errorf("batch: send to %q: %w: %w", msg.Topic, ErrOutcomeUnknown, ctx.Err())
	}
}

// SendBatch hands msgs to the inner producer's SendBatch at once: they are a batch already.
func (p *Producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return courier.ErrClosed
	}
	p.direct.Add(1)
	p.mu.Unlock()
	defer p.direct.Done()
	return p.inner.SendBatch(ctx, msgs)
}

// Close stops accepting messages (Send returns courier.ErrClosed), sends every batch still
// pending, closes the inner producer, and returns the errors of batches it sent and of the
// inner Close. When it returns, no goroutine of p is left. Later calls return nil.
func (p *Producer) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		if p.cur != nil {
			p.seal(TriggerClose)
		}
		p.space.Broadcast() // Sends waiting for room return ErrClosed
		p.signal()
		p.mu.Unlock()
		<-p.stopped
		p.direct.Wait()
		p.mu.Lock()
		errs := p.closeErrs
		p.mu.Unlock()
		if err := p.inner.Close(); err != nil {
			errs = append(errs, fmt.Errorf("batch: closing inner producer: %w", err))
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// Stats returns what p has flushed so far.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.ByTrigger = make(map[Trigger]int64, len(p.stats.ByTrigger))
	for k, v := range p.stats.ByTrigger {
		s.ByTrigger[k] = v
	}
	return s
}

// Pending returns the number of messages accepted by Send and not yet settled: waiting in a
// batch or being sent.
func (p *Producer) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unsettled
}

// seal moves the current batch to the ready queue; p.mu is held.
func (p *Producer) seal(t Trigger) {
	p.cur.trigger = t
	p.ready = append(p.ready, p.cur)
	p.cur = nil
	p.signal()
}

func (p *Producer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// settled frees room for n messages; p.mu is held.
func (p *Producer) settled(n int) {
	p.unsettled -= n
	if p.unsettled < p.cfg.MaxPending {
		p.space.Broadcast()
	}
}

// flusher sends the batches, one at a time, until Close and nothing is left.
func (p *Producer) flusher() {
	defer close(p.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		p.mu.Lock()
		var b *pending
		wait := time.Duration(-1)
		switch {
		case len(p.ready) > 0:
			b = p.ready[0]
			p.ready[0] = nil
			p.ready = p.ready[1:]
		case p.cur != nil:
			if d := time.Until(p.cur.deadline); d > 0 {
				wait = d
			} else {
				b = p.cur
				b.trigger = TriggerLinger
				p.cur = nil
			}
		case p.closed:
			p.mu.Unlock()
			return
		}
		if b != nil {
			b.taken = true // from here on its Senders cannot take their messages back
		}
		p.mu.Unlock()

		switch {
		case b != nil:
			p.flush(b)
		case wait >= 0:
			timer.Reset(wait)
			select {
			case <-p.wake:
				timer.Stop()
			case <-timer.C:
			}
		default:
			<-p.wake
		}
	}
}

// flush sends b's live messages and settles every one of them; no lock is held while sending.
func (p *Producer) flush(b *pending) {
	msgs := make([]courier.Message, 0, b.live)
	idx := make([]int, 0, b.live)
	for i, m := range b.msgs {
		if !b.dropped[i] {
			msgs = append(msgs, m)
			idx = append(idx, i)
		}
	}
	errs := make([]error, len(b.msgs))
	var err error
	if len(msgs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.SendTimeout)
		err = p.inner.SendBatch(ctx, msgs)
		cancel()
		var be *courier.BatchError
		switch {
		case err == nil:
		case errors.As(err, &be) && len(be.Errs) == len(msgs):
			for j, i := range idx {
				errs[i] = be.Errs[j]
			}
		default: // the inner producer did not say which failed: all of them may have
			for _, i := range idx {
				errs[i] = err
			}
		}
	}
	b.errs = errs
	p.mu.Lock()
	if len(msgs) > 0 {
		p.stats.Batches++
		p.stats.Messages += int64(len(msgs))
		p.stats.ByTrigger[b.trigger]++
	}
	if err != nil && p.closed {
		p.closeErrs = append(p.closeErrs, fmt.Errorf("batch: flushing %d messages on close: %w", len(msgs), err))
	}
	p.settled(len(msgs))
	p.mu.Unlock()
	close(b.done)
}
