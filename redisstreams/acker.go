package redisstreams

import (
	"context"
	"time"
)

// ackBatch is the most entries one flush acknowledges.
const ackBatch = 1024

type ackReq struct {
	stream int
	id     string
}

// acker sends the XACKs of handled entries in batches: whatever has queued up while the
// previous XACK was on its way goes in the next, so acknowledging costs one round trip per
// batch instead of one per message. An entry whose XACK is lost (a crash, Redis down when
// Consume ends) is delivered again, which at-least-once allows.
type acker struct {
	c    *consumer
	ch   chan ackReq
	quit chan struct{} // closed by stop: flush what is queued and return
	done chan struct{}

	byStream [][]string                // per stream, the IDs of the batch being sent; reused
	sent     func(byStream [][]string) // called with each batch once it is acknowledged or given up
}

func newAcker(c *consumer, sent func(byStream [][]string)) *acker {
	a := &acker{
		c:        c,
		sent:     sent,
		ch:       make(chan ackReq, ackBatch),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		byStream: make([][]string, len(c.streams)),
	}
	go a.loop()
	return a
}

// add queues one acknowledgement; it waits while the queue is full (Redis is slow or down).
func (a *acker) add(ctx context.Context, stream int, id string) error {
	select {
	case a.ch <- ackReq{stream, id}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop sends what is queued and ends the acker. No add may follow.
func (a *acker) stop() {
	close(a.quit)
	<-a.done
}

func (a *acker) loop() {
	defer close(a.done)
	for {
		select {
		case req := <-a.ch:
			a.collect(req)
		case <-a.quit:
			a.finish()
			return
		}
		a.flush(a.quit)
	}
}

// collect adds req and whatever else is queued, up to ackBatch, to the batch.
func (a *acker) collect(req ackReq) {
	a.byStream[req.stream] = append(a.byStream[req.stream], req.id)
	for n := 1; n < ackBatch; n++ {
		select {
		case req = <-a.ch:
			a.byStream[req.stream] = append(a.byStream[req.stream], req.id)
		default:
			return
		}
	}
}

// finish sends everything still queued, giving up after finishTimeout.
func (a *acker) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	for {
		select {
		case req := <-a.ch:
			a.collect(req)
		default:
			if a.pending() == 0 {
				return
			}
		}
		if !a.flush(ctx.Done()) {
			a.c.log.Warn("redis: acknowledgements not sent before Consume ended; those entries will be delivered again",
				"entries", a.pending())
			return
		}
	}
}

func (a *acker) pending() int {
	n := 0
	for _, ids := range a.byStream {
		n += len(ids)
	}
	return n
}

// flush sends the batch, retrying with backoff while Redis is unreachable, until it is sent
// (true) or giveUp is closed (false).
func (a *acker) flush(giveUp <-chan struct{}) bool {
	c := a.c
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
		err := a.send(ctx)
		cancel()
		if err == nil {
			a.reset()
			return true
		}
		if attempt == 1 {
			c.log.Warn("redis: acknowledge failed; retrying", "entries", a.pending(), "err", err)
		}
		if !transient(err) {
			// Nothing will make it work (the client is closed, the group is gone...): the entries stay pending and
			// come back, as if this consumer had died.
			c.log.Error("redis: acknowledge failed; the entries will be delivered again", "entries", a.pending(), "err", err)
			a.reset()
			return true
		}
		t := time.NewTimer(reconnectBackoff.Delay(attempt))
		select {
		case <-t.C:
		case <-giveUp:
			t.Stop()
			return false
		}
	}
}

// reset reports the batch done and empties it.
func (a *acker) reset() {
	a.sent(a.byStream)
	for i := range a.byStream {
		a.byStream[i] = a.byStream[i][:0]
	}
}

// send acknowledges the batch: one XACK per stream that has entries, pipelined when several do.
func (a *acker) send(ctx context.Context) error {
	c := a.c
	streams := 0
	for _, ids := range a.byStream {
		if len(ids) > 0 {
			streams++
		}
	}
	if streams == 1 {
		for i, ids := range a.byStream {
			if len(ids) > 0 {
				return c.b.client.XAck(ctx, c.streams[i].key, c.cfg.Group, ids...).Err()
			}
		}
	}
	pipe := c.b.client.Pipeline()
	for i, ids := range a.byStream {
		if len(ids) > 0 {
			pipe.XAck(ctx, c.streams[i].key, c.cfg.Group, ids...)
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}
