package rabbitmq

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier"
	amqp "github.com/rabbitmq/amqp091-go"
)

// errConfirmLost is the fate of a publish whose channel closed before the broker confirmed
// it: the broker may or may not have it. Send publishes it again (at-least-once allows the
// duplicate this may make).
var errConfirmLost = errors.New("channel closed before the broker confirmed the message")

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
var errNacked = errors.New("broker refused the message (nack)")

// returnsBuffer holds basic.returns until a Send reads them. amqp091 gives up handing one
// over after 5 seconds; the watcher drains the buffer when no Send does.
const returnsBuffer = 256

// returnsPoll is how often the watcher drains returns nobody else took.
const returnsPoll = 100 * time.Millisecond

// outstanding is one publish waiting for its confirm.
type outstanding struct {
	exchange, key, id string
	tag               uint64
	returned          bool
	dc                *amqp.DeferredConfirmation
}

// pubChan is one channel in confirm mode. A Send waits on its own deferred confirmation, which
// amqp091's reader resolves directly. Unroutable messages come back as basic.return, which
// the broker sends before the message's basic.ack; amqp091 puts the return in the buffered
// returns channel before it reads the ack. So once a Send's confirmation is done, its return,
// if any, is in that buffer or already taken from it: the Send drains the buffer, under mu,
// before it reads its own returned mark. Whoever drains marks each return on the oldest
// outstanding publish with the same exchange, routing key and message ID.
type pubChan struct {
	ch      *amqp.Channel
	gen     uint64
	conn    *conn
	returns chan amqp.Return

	pubMu  sync.Mutex  // serialises publishes, so that each knows its delivery tag
	broken atomic.Bool // a publish failed or the channel closed: Sends open another

	mu        sync.Mutex // guards the fields below; never held across I/O
	inflight  map[uint64]*outstanding
	abandoned []*outstanding // their Send stopped waiting; dropped once confirmed
	dead      bool
	cause     *amqp.Error   // why the channel closed, when the broker said
	done      chan struct{} // closed once the channel closed and cause is set
}

func newPubChan(c *conn, ch *amqp.Channel, gen uint64) (*pubChan, error) {
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, err
	}
	p := &pubChan{
		ch:       ch,
		gen:      gen,
		conn:     c,
		returns:  ch.NotifyReturn(make(chan amqp.Return, returnsBuffer)),
		inflight: make(map[uint64]*outstanding),
		done:     make(chan struct{}),
	}
	go p.watch(ch.NotifyClose(make(chan *amqp.Error, 1)))
	return p, nil
}

// watch waits for the channel to close, draining returns nobody else took meanwhile.
func (p *pubChan) watch(closed <-chan *amqp.Error) {
	defer close(p.done)
	tick := time.NewTicker(returnsPoll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if len(p.returns) > 0 {
				p.mu.Lock()
				p.drainLocked()
				p.mu.Unlock()
			}
		case cause := <-closed:
			p.mu.Lock()
			p.dead, p.cause = true, cause
			p.broken.Store(true)
			p.drainLocked()
			p.mu.Unlock()
			if cause != nil && cause.Code == amqp.NotFound {
				p.conn.forgetDeclared() // an exchange was deleted under us
			}
			return
		}
	}
}

// drainLocked takes every return in the buffer and marks its publish; p.mu is held.
func (p *pubChan) drainLocked() {
	for {
		select {
		case r, ok := <-p.returns:
			if !ok {
				return
			}
			var oldest *outstanding
			for _, o := range p.inflight {
				if !o.returned && o.id == r.MessageId && o.exchange == r.Exchange && o.key == r.RoutingKey &&
					(oldest == nil || o.tag < oldest.tag) {
					oldest = o
				}
			}
			if oldest != nil {
				oldest.returned = true
			}
		default:
			return
		}
	}
}

// publish sends msgs[i] for each i in idx, in order, and returns their outstanding publishes.
// When the channel fails it stops: the messages from idx[len(out)] on were not sent.
func (p *pubChan) publish(msgs []courier.Message, pubs []amqp.Publishing, idx []int, mandatory bool) (out []*outstanding) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	out = make([]*outstanding, 0, len(idx))
	for _, i := range idx {
		// The outstanding publish is registered before it is sent, so that its return finds it.
		tag := p.ch.GetNextPublishSeqNo()
		m := &msgs[i]
		o := &outstanding{exchange: m.Topic, key: m.Key, id: m.ID, tag: tag}
		p.mu.Lock()
		if p.dead {
			p.mu.Unlock()
			return out
		}
		p.inflight[tag] = o
		p.mu.Unlock()
		dc, err := p.ch.PublishWithDeferredConfirm(o.exchange, o.key, mandatory, false, pubs[i])
		if err != nil || dc == nil || dc.DeliveryTag != tag {
			p.mu.Lock()
			delete(p.inflight, tag)
			p.dead = true
			p.broken.Store(true)
			p.mu.Unlock()
			return out
		}
		o.dc = dc
		out = append(out, o)
	}
	return out
}

// fate returns what became of o, whose confirmation is done.
func (p *pubChan) fate(o *outstanding) error {
	acked := o.dc.Acked()
	if !acked && p.ch.IsClosed() {
		<-p.done // amqp091 also nacks what is pending when the channel closes: learn why it did
	}
	p.mu.Lock()
	p.drainLocked()
	delete(p.inflight, o.tag)
	p.sweepLocked()
	returned, dead, cause := o.returned, p.dead, p.cause
	p.mu.Unlock()
	switch {
	case !acked && dead:
		return &lostError{cause: cause}
	case !acked:
		return errNacked
	case returned:
		return fmt.Errorf("%w: no queue is bound to exchange %q for routing key %q", courier.ErrUnroutable, o.exchange, o.key)
	}
	return nil
}

// abandon forgets publishes whose Send stopped waiting; they are dropped once confirmed.
func (p *pubChan) abandon(os []*outstanding) {
	p.mu.Lock()
	p.abandoned = append(p.abandoned, os...)
	p.sweepLocked()
	p.mu.Unlock()
}

// sweepLocked drops the abandoned publishes that are confirmed; p.mu is held.
func (p *pubChan) sweepLocked() {
	kept := p.abandoned[:0]
	for _, o := range p.abandoned {
		select {
		case <-o.dc.Done():
			delete(p.inflight, o.tag)
		default:
			kept = append(kept, o)
		}
	}
	clear(p.abandoned[len(kept):])
	p.abandoned = kept
}

// alive reports whether the channel can still publish.
func (p *pubChan) alive() bool {
	return !p.broken.Load() && !p.ch.IsClosed()
}

// close closes the channel; the publishes still waiting are lost.
func (p *pubChan) close() {
	_ = p.ch.Close()
	<-p.done
}
