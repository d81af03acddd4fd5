package rabbitmq

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/courier-go/courier/driver"
)

// session is one consuming channel, with one basic.consume per queue of the consumer. Its
// deliveries carry it as their Ref, so each is settled on the channel it came from, never on
// a later one (delivery tags are per channel, shared by its queues).
type session struct {
	c          *Consumer
	ch         *amqp.Channel
	tags       []string
	deliveries <-chan amqp.Delivery // every queue's, merged
	closed     <-chan *amqp.Error
	forwarders sync.WaitGroup // goroutines merging several queues' deliveries
	stopMerge  chan struct{}  // closed to stop them

	// ctx is the deliveries' context: it ends when the channel is lost, so that the engine
	// releases (drops) what it still holds of them instead of handling it.
	ctx    context.Context
	cancel context.CancelFunc

	ops       chan settleOp // to the acker
	stopAcker chan struct{} // closed to make the acker flush and stop
	dead      chan struct{} // closed when the acker has stopped
}

type opKind uint8

const (
	opAck     opKind = iota + 1 // basic.ack
	opRequeue                   // basic.nack requeue: another consumer gets it promptly
	opReject                    // basic.nack without requeue: dead-lettered
)

type settleOp struct {
	tag  uint64
	kind opKind
}

func newSession(c *Consumer, ch *amqp.Channel, tags []string, sources []<-chan amqp.Delivery, eng *driver.Engine) *session {
	s := &session{
		c:         c,
		ch:        ch,
		tags:      tags,
		closed:    ch.NotifyClose(make(chan *amqp.Error, 1)),
		stopMerge: make(chan struct{}),
		ops:       make(chan settleOp, c.prefetch),
		stopAcker: make(chan struct{}),
		dead:      make(chan struct{}),
	}
	s.deliveries = s.merge(sources)
	s.ctx, s.cancel = context.WithCancel(eng.Context())
	a := newAcker(ch, c.prefetch)
	go a.run(s.ops, s.stopAcker, s.dead)
	return s
}

// merge returns one channel of the deliveries of every source: the source itself when there
// is one (no goroutine, no extra hand-over), else a channel fed by a goroutine per source,
// closed when every source is (the channel closed or the broker cancelled a consumer).
func (s *session) merge(sources []<-chan amqp.Delivery) <-chan amqp.Delivery {
	if len(sources) == 1 {
		return sources[0]
	}
	merged := make(chan amqp.Delivery)
	s.forwarders.Add(len(sources))
	for _, src := range sources {
		go func() {
			defer s.forwarders.Done()
			for d := range src {
				select {
				case merged <- d:
				case <-s.stopMerge:
					return // the session ends; the broker delivers what it held again
				}
			}
		}()
	}
	go func() { s.forwarders.Wait(); close(merged) }()
	return merged
}

// stopForwarders ends the merging goroutines, once the channel is closed (so their sources
// end) and nothing reads their output any more.
func (s *session) stopForwarders() {
	close(s.stopMerge)
	s.forwarders.Wait()
}

// run hands deliveries to the engine until ctx ends (nil) or the channel is lost (the reason).
func (s *session) run(ctx context.Context, eng *driver.Engine) error {
	for {
		select {
		case d, ok := <-s.deliveries:
			if !ok {
				select {
				case err := <-s.closed: // sent before amqp091 closes the deliveries
					if err != nil {
						return err
					}
					return fmt.Errorf("channel of group %q closed", s.c.cfg.Group)
				default:
					// Channel open: the broker cancelled a consumer (queue deleted).
					return fmt.Errorf("the broker cancelled a consumer of group %q (queues %q)", s.c.cfg.Group, s.c.queues)
				}
			}
			msg := decode(&d)
			if err := eng.Submit(ctx, driver.Delivery{Msg: msg, Ctx: s.ctx, Ref: s, Tag: d.DeliveryTag}); err != nil {
				_ = s.settle(d.DeliveryTag, opRequeue)
				return nil // ctx ended or Close: the caller shuts down
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// settle queues a settlement for the acker; it fails once the session is gone.
func (s *session) settle(tag uint64, kind opKind) error {
	select {
	case <-s.dead:
		return errSessionLost
	default:
	}
	select {
	case s.ops <- settleOp{tag, kind}:
		return nil
	case <-s.dead:
		return errSessionLost
	}
}

// cancelConsumer asks the broker to stop delivering; what it sent already is released when
// the channel closes.
func (s *session) cancelConsumer() {
	for _, tag := range s.tags {
		_ = s.ch.Cancel(tag, false)
	}
}

// close flushes the acker and closes the channel, for a clean shutdown.
func (s *session) close() {
	close(s.stopAcker)
	<-s.dead
	s.cancel()
	_ = s.ch.Close()
	s.stopForwarders()
}

// kill ends a session whose channel is lost: the engine drops what it holds of it.
func (s *session) kill() {
	s.cancel()
	close(s.stopAcker)
	<-s.dead
	_ = s.ch.Close()
	s.stopForwarders()
}

// ackLinger is how long an ack above a gap (an earlier delivery still being handled) waits to
// be folded into one multiple ack before it is sent alone.
const ackLinger = 2 * time.Millisecond

// acker sends the session's acks and nacks from one goroutine. Acks of consecutive delivery
// tags become one basic.ack with multiple set, which is what keeps the consumer as fast as a
// raw client. A multiple ack covers every unsettled tag up to it, so it is only used over a
// run in which every tag is acked, or was settled before.
type acker struct {
	ch        ackChannel
	threshold int               // held acks above a gap beyond which they are sent alone
	low       uint64            // lowest tag not settled on the wire
	decided   map[uint64]opKind // settled by the engine, not yet sent
	sentAbove map[uint64]bool   // sent alone while a lower tag was unsettled
	failed    bool              // the channel refused a write: it is gone
}

// ackChannel is the part of *amqp.Channel the acker uses.
type ackChannel interface {
	Ack(tag uint64, multiple bool) error
	Nack(tag uint64, multiple, requeue bool) error
}

func newAcker(ch ackChannel, prefetch int) *acker {
	return &acker{
		ch:        ch,
		threshold: max(prefetch/4, 1),
		low:       1,
		decided:   make(map[uint64]opKind),
		sentAbove: make(map[uint64]bool),
	}
}

func (a *acker) run(ops <-chan settleOp, stop <-chan struct{}, dead chan<- struct{}) {
	defer close(dead)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	armed := false
	for {
		force := false
		select {
		case op := <-ops:
			a.decided[op.tag] = op.kind
		case <-linger.C:
			armed = false
			force = true
		case <-stop:
			a.drain(ops)
			a.flush(true)
			return
		}
		a.drain(ops)
		if held := a.flush(force); held && !armed {
			linger.Reset(ackLinger)
			armed = true
		}
	}
}

// drain takes every settlement already queued, so that one flush covers them all.
func (a *acker) drain(ops <-chan settleOp) {
	for {
		select {
		case op := <-ops:
			a.decided[op.tag] = op.kind
		default:
			return
		}
	}
}

// flush sends what can be sent and reports whether acks are held back above a gap.
func (a *acker) flush(force bool) (held bool) {
	var runEnd uint64 // highest tag of the current run of acks, 0 if none
	runLen := 0
	sendRun := func() {
		if runLen > 0 {
			a.send(runEnd, opAck, runLen > 1)
		}
		runLen = 0
	}
	for {
		t := a.low
		if kind, ok := a.decided[t]; ok {
			delete(a.decided, t)
			if kind == opAck {
				runEnd = t
				runLen++
			} else {
				sendRun()
				a.send(t, kind, false)
			}
		} else if a.sentAbove[t] {
			delete(a.sentAbove, t)
		} else {
			break
		}
		a.low++
	}
	sendRun()
	if len(a.decided) == 0 {
		return false
	}
	if !force && len(a.decided) < a.threshold {
		return true
	}
	for t, kind := range a.decided {
		a.send(t, kind, false)
		a.sentAbove[t] = true
		delete(a.decided, t)
	}
	return false
}

func (a *acker) send(tag uint64, kind opKind, multiple bool) {
	if a.failed {
		return
	}
	var err error
	switch kind {
	case opAck:
		err = a.ch.Ack(tag, multiple)
	case opRequeue:
		err = a.ch.Nack(tag, multiple, true)
	case opReject:
		err = a.ch.Nack(tag, multiple, false)
	}
	if err != nil {
		a.failed = true // the channel is gone; the broker delivers its unacked messages again
	}
}
