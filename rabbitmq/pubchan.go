package rabbitmq

import (
	"errors"
	"fmt"
	"sync"

	"github.com/courier-go/courier"
	amqp "github.com/rabbitmq/amqp091-go"
)

// errConfirmLost is the fate of a publish whose channel closed before the broker confirmed
// it: the broker may or may not have it. Send publishes it again (at-least-once allows the
// duplicate this may make).
var errConfirmLost = errors.New("rabbitmq: channel closed before the broker confirmed the message")

// lostError is errConfirmLost with the reason the channel closed, if the broker gave one.
type lostError struct{ cause *amqp.Error }

func (e *lostError) Error() string {
	if e.cause == nil {
		return errConfirmLost.Error()
	}
	return errConfirmLost.Error() + ": " + e.cause.Error()
}

func (e *lostError) Unwrap() error { return errConfirmLost }

// retryable reports whether a publish lost this way may be sent again: the connection went
// away, or the broker said an exchange was missing (it is declared again first). Any other
// channel error (a message over the server's size limit, say) would recur.
func (e *lostError) retryable() bool {
	return e.cause == nil || e.cause.Code == amqp.NotFound || !e.cause.Server || e.cause.Code == amqp.ConnectionForced
}

// errNacked is the fate of a publish the broker refused (basic.nack).
var errNacked = errors.New("rabbitmq: broker refused the message (nack)")

// waiter collects the confirms of the messages of one Send or SendBatch call.
type waiter struct {
	mu   sync.Mutex
	errs []error
	left int
	done chan struct{}
}

// newWaiter waits for left confirms of messages numbered 0 to n-1.
func newWaiter(n, left int) *waiter {
	return &waiter{errs: make([]error, n), left: left, done: make(chan struct{})}
}

func (w *waiter) resolve(i int, err error) {
	w.mu.Lock()
	w.errs[i] = err
	w.left--
	last := w.left == 0
	w.mu.Unlock()
	if last {
		close(w.done)
	}
}

// result returns the error of message i; call it after done is closed.
func (w *waiter) result(i int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs[i]
}

// outstanding is one publish waiting for its confirm.
type outstanding struct {
	exchange, key, id string
	returned          bool
	w                 *waiter
	i                 int
}

// pubChan is one channel in confirm mode. Its confirms arrive in publish order (amqp091
// resequences them), so the publishes waiting for one form a FIFO. One goroutine reads both
// confirms and returns: the broker sends a message's basic.return before its basic.ack, and
// amqp091 hands the return over (unbuffered) before it reads the ack, so by the time the ack
// of a message is read here its return has been recorded.
type pubChan struct {
	ch   *amqp.Channel
	gen  uint64
	conn *conn

	pubMu sync.Mutex     // serialises publishes, so that queue is in sequence order
	mu    sync.Mutex     // guards the fields below; never held across I/O
	queue []*outstanding // waiting for a confirm, oldest first
	head  int
	dead  bool
	done  chan struct{} // closed when the loop has failed every outstanding publish
}

func newPubChan(c *conn, ch *amqp.Channel, gen uint64) (*pubChan, error) {
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("rabbitmq: enable publisher confirms: %w", err)
	}
	p := &pubChan{ch: ch, gen: gen, conn: c, done: make(chan struct{})}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1024))
	returns := ch.NotifyReturn(make(chan amqp.Return))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	go p.loop(confirms, returns, closed)
	return p, nil
}

func (p *pubChan) loop(confirms <-chan amqp.Confirmation, returns <-chan amqp.Return, closed <-chan *amqp.Error) {
	defer close(p.done)
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			p.returned(&r)
		case c, ok := <-confirms:
			if !ok {
				var cause *amqp.Error
				select {
				case cause = <-closed:
				default:
				}
				p.fail(cause)
				return
			}
			p.confirmed(c)
		}
	}
}

// returned marks the oldest outstanding publish that matches r: returns come in publish order,
// and the exchange, routing key and message ID single out the message among those in flight.
func (p *pubChan) returned(r *amqp.Return) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range p.queue[p.head:] {
		if !o.returned && o.id == r.MessageId && o.exchange == r.Exchange && o.key == r.RoutingKey {
			o.returned = true
			return
		}
	}
}

func (p *pubChan) confirmed(c amqp.Confirmation) {
	p.mu.Lock()
	if p.head == len(p.queue) {
		p.mu.Unlock()
		return // a confirm for nothing we sent: cannot happen, but must not panic
	}
	o := p.queue[p.head]
	p.queue[p.head] = nil
	p.head++
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
	}
	p.mu.Unlock()
	var err error
	switch {
	case !c.Ack:
		err = errNacked
	case o.returned:
		err = fmt.Errorf("%w: no queue is bound to exchange %q for routing key %q", courier.ErrUnroutable, o.exchange, o.key)
	}
	o.w.resolve(o.i, err)
}

// fail ends the channel: every publish still waiting is lost.
func (p *pubChan) fail(cause *amqp.Error) {
	p.mu.Lock()
	p.dead = true
	rest := p.queue[p.head:]
	p.queue, p.head = nil, 0
	p.mu.Unlock()
	if cause != nil && cause.Code == amqp.NotFound {
		p.conn.forgetDeclared() // an exchange was deleted under us
	}
	var err error = &lostError{cause: cause}
	for _, o := range rest {
		o.w.resolve(o.i, err)
	}
}

// publish sends msgs[i] for each i in idx, registering each with w. It returns how many it sent;
// those not sent are the caller's to resolve (the channel is dead).
//
// pubMu keeps p.queue in the channel's sequence order; p.mu is held only to touch the queue,
// never across a write, so that the loop is never stuck behind a publish blocked by the
// broker's flow control: amqp091 drops a confirm it cannot hand over within 5 seconds.
func (p *pubChan) publish(pubs []amqp.Publishing, msgs []courier.Message, idx []int, w *waiter, mandatory bool) (int, error) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	for n, i := range idx {
		m := &msgs[i]
		o := &outstanding{exchange: m.Topic, key: m.Key, id: m.ID, w: w, i: i}
		p.mu.Lock()
		if p.dead {
			p.mu.Unlock()
			return n, &lostError{}
		}
		p.queue = append(p.queue, o)
		p.mu.Unlock()
		if _, err := p.ch.PublishWithDeferredConfirm(m.Topic, m.Key, mandatory, false, pubs[i]); err != nil {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.dead = true
			if last := len(p.queue) - 1; last >= p.head && p.queue[last] == o {
				p.queue = p.queue[:last]
				return n, &lostError{}
			}
			return n + 1, &lostError{} // the loop's fail already resolved it
		}
	}
	return len(idx), nil
}

// alive reports whether the channel can still publish.
func (p *pubChan) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.dead && !p.ch.IsClosed()
}

// close closes the channel; the loop fails what is outstanding.
func (p *pubChan) close() {
	_ = p.ch.Close()
	<-p.done
}
