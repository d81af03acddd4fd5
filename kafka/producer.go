package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
	"github.com/courier-go/courier/internal/recordid"
	"github.com/courier-go/courier/internal/uuidv7"
)

// producer sends messages through one asynchronous sarama producer, so the records of
// concurrent Sends and of a SendBatch travel together in wire batches; each call waits for
// the acknowledgements of its own records. It is safe for concurrent use.
type producer struct {
	b  *Broker
	ap sarama.AsyncProducer

	// mu is held for reading while a record is handed to ap, and for writing by Close, so
	// that nothing is handed to ap after it began to close.
	mu     sync.RWMutex
	closed bool

	routed sync.WaitGroup // the goroutines routing acknowledgements to their callers
	once   sync.Once
}

var _ courier.Producer = (*producer)(nil)

func newProducer(b *Broker) (*producer, error) {
	ap, err := sarama.NewAsyncProducerFromClient(b.client)
	if err != nil {
		return nil, fmt.Errorf("kafka: new producer: %w", err)
	}
	p := &producer{b: b, ap: ap}
	p.routed.Add(2)
	go func() {
		defer p.routed.Done()
		for m := range ap.Successes() {
			m.Metadata.(*ticket).settle(nil)
		}
	}()
	go func() {
		defer p.routed.Done()
		for pe := range ap.Errors() {
			pe.Msg.Metadata.(*ticket).settle(p.sendError(pe.Msg.Topic, pe.Err))
		}
	}()
	return p, nil
}

// waiter collects the results of the records of one Send or SendBatch. A success only
// counts down: the errors are kept, under mu, only when there are some.
type waiter struct {
	left atomic.Int64
	done chan struct{}
	n    int

	mu   sync.Mutex
	errs []error // nil while no record failed, then one per record
}

func newWaiter(n int) *waiter {
	w := &waiter{n: n, done: make(chan struct{})}
	w.left.Store(int64(n))
	return w
}

// err returns the error of record i; call it once w.done is closed.
func (w *waiter) err(i int) error {
	if w.errs == nil {
		return nil
	}
	return w.errs[i]
}

// ticket travels with a record as its Metadata and brings its result back to the waiter.
type ticket struct {
	w *waiter
	i int
}

func (t ticket) settle(err error) {
	if err != nil {
		t.w.mu.Lock()
		if t.w.errs == nil {
			t.w.errs = make([]error, t.w.n)
		}
		t.w.errs[t.i] = err
		t.w.mu.Unlock()
	}
	if t.w.left.Add(-1) == 0 {
		close(t.w.done)
	}
}

// Send sends msg and returns once every in-sync replica has it.
func (p *producer) Send(ctx context.Context, msg courier.Message) error {
	w := newWaiter(1)
	if err := p.enqueue(ctx, []courier.Message{msg}, w); err != nil {
		return err
	}
	return p.wait(ctx, w, msg.Topic, func() error { return w.err(0) })
}

// SendBatch sends msgs together and returns once every one of them was acknowledged or
// failed. When some fail (invalid, too large, refused by the broker), the error is a
// *courier.BatchError saying which; the others were sent.
func (p *producer) SendBatch(ctx context.Context, msgs []courier.Message) error {
	if len(msgs) == 0 {
		p.mu.RLock()
		defer p.mu.RUnlock()
		if p.closed {
			return fmt.Errorf("kafka: send batch: %w", courier.ErrClosed)
		}
		return nil
	}
	w := newWaiter(len(msgs))
	if err := p.enqueue(ctx, msgs, w); err != nil {
		return err
	}
	return p.wait(ctx, w, msgs[0].Topic, func() error {
		if w.errs == nil {
			return nil
		}
		return driver.NewBatchError(w.errs)
	})
}

// enqueue prepares msgs and hands the valid ones to the sarama producer; an invalid one is
// settled at once with its error. It returns an error (ErrClosed, the context's) only when
// nothing of msgs can be waited for: then the records already handed over are still sent.
func (p *producer) enqueue(ctx context.Context, msgs []courier.Message, w *waiter) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		if len(msgs) == 1 {
			return fmt.Errorf("kafka: send %s: %w", msgs[0].Topic, courier.ErrClosed)
		}
		return fmt.Errorf("kafka: send batch: %w", courier.ErrClosed)
	}
	var now time.Time // one send time for the whole call, read once
	for i, msg := range msgs {
		t := ticket{w, i}
		msg, sendID, err := recordid.Prepare(msg, &now) // an ID Send fills in is not sent: see recordUUID
		if err != nil {
			t.settle(fmt.Errorf("kafka: send %s: %w", msg.Topic, err))
			continue
		}
		size := msg.Size()
		if !sendID {
			size += uuidv7.Len // the ID the consumer derives, counted as every broker counts a filled ID
		}
		if size > p.b.cfg.MaxMessageBytes {
			t.settle(fmt.Errorf("kafka: send %s: %w: %d bytes, limit %d (Config.MaxMessageBytes)",
				msg.Topic, courier.ErrMessageTooLarge, size, p.b.cfg.MaxMessageBytes))
			continue
		}
		if p.b.cfg.CreateTopics {
			if err := p.b.ensureTopic(ctx, msg.Topic); err != nil {
				t.settle(err)
				continue
			}
		}
		rec := &newRecord(msg, t, sendID).pm
		select {
		case p.ap.Input() <- rec: // the common case, without the cost of watching ctx
			continue
		default:
		}
		select {
		case p.ap.Input() <- rec:
		case <-ctx.Done():
			for j := i; j < len(msgs); j++ {
				ticket{w, j}.settle(fmt.Errorf("kafka: send %s: %w", msgs[j].Topic, ctx.Err()))
			}
			if i == 0 {
				return fmt.Errorf("kafka: send %s: %w", msg.Topic, ctx.Err())
			}
			return nil
		}
	}
	return nil
}

// wait waits for w and returns result(), or the context's error when it ends first (the
// records handed over may then still be written).
func (p *producer) wait(ctx context.Context, w *waiter, topic string, result func() error) error {
	select {
	case <-w.done:
		return result()
	case <-ctx.Done():
		return fmt.Errorf("kafka: send %s: %w (records handed over may still be written)", topic, ctx.Err())
	}
}

// sendError wraps a sarama produce error, naming the broker and topic.
func (p *producer) sendError(topic string, err error) error {
	var ce sarama.ConfigurationError
	if errors.Is(err, sarama.ErrMessageSizeTooLarge) ||
		(errors.As(err, &ce) && strings.Contains(string(ce), "MaxMessageBytes")) {
		return fmt.Errorf("kafka: send %s: %w: %w", topic, courier.ErrMessageTooLarge, err)
	}
	if errors.Is(err, sarama.ErrShuttingDown) || errors.Is(err, sarama.ErrClosedClient) {
		return fmt.Errorf("kafka: send %s: %w: %w", topic, courier.ErrClosed, err)
	}
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("kafka: send %s: %w (create the topic first, or set Config.CreateTopics)", topic, err)
	}
	return fmt.Errorf("kafka: send %s: %w", topic, err)
}

// Close sends what was handed over and not yet acknowledged, waits for the results, and
// releases the producer. Idempotent; Send and SendBatch return courier.ErrClosed after it.
func (p *producer) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.ap.AsyncClose()
		p.routed.Wait()
		p.b.members.Remove(p)
	})
	return nil
}
