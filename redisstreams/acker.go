package redisstreams

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ackLinger is how long the XACK of a handled entry waits for the read loop to carry it in the
// pipeline of its next XREADGROUP, before the acker sends it on its own.
const ackLinger = 2 * time.Millisecond

// acker collects the acknowledgements of handled entries and sends them in batches: while
// entries flow, the read loop sends them together with its next read (one round trip for
// both); when it does not come by soon, the acker's own goroutine sends them. An entry whose
// XACK is lost (a crash, Redis down when Consume ends) is delivered again, which
// at-least-once allows.
type acker struct {
	c    *consumer
	sent func(byStream [][]string) // called with each batch once it is acknowledged or given up

	mu      sync.Mutex
	pending [][]string // per stream: IDs of handled entries not acknowledged yet
	n       int        // how many there are

	wake  chan struct{} // pending became non-empty
	quit  chan struct{} // closed by stop: send what is pending and return
	done  chan struct{}
	batch [][]string // the acker goroutine's batch; reused
}

func newAcker(c *consumer, sent func(byStream [][]string)) *acker {
	a := &acker{
		c:       c,
		sent:    sent,
		pending: make([][]string, len(c.streams)),
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		batch:   make([][]string, len(c.streams)),
	}
	go a.loop()
	return a
}

// add queues the acknowledgement of entry id of stream i.
func (a *acker) add(i int, id string) {
	a.mu.Lock()
	a.pending[i] = append(a.pending[i], id)
	a.n++
	first := a.n == 1
	a.mu.Unlock()
	if first {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// take moves the pending acknowledgements into batch, reusing its arrays, and returns how many.
func (a *acker) take(batch [][]string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range batch {
		batch[i] = append(batch[i][:0], a.pending[i]...)
		a.pending[i] = a.pending[i][:0]
	}
	n := a.n
	a.n = 0
	return n
}

// giveBack queues again acknowledgements that could not be sent yet.
func (a *acker) giveBack(batch [][]string) {
	a.mu.Lock()
	for i, ids := range batch {
		a.pending[i] = append(a.pending[i], ids...)
		a.n += len(ids)
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// queue adds the XACKs of batch to pipe.
func (a *acker) queue(ctx context.Context, pipe redis.Pipeliner, batch [][]string) []*redis.IntCmd {
	var cmds []*redis.IntCmd
	for i, ids := range batch {
		if len(ids) > 0 {
			cmds = append(cmds, pipe.XAck(ctx, a.c.streams[i].key, a.c.cfg.Group, ids...))
		}
	}
	return cmds
}

// result settles batch after an attempt to send it that ended with err: true when done with
// it (sent, or failed for good, which is logged), false when it should be tried again.
func (a *acker) result(batch [][]string, err error) bool {
	switch {
	case err == nil:
	case transient(err):
		return false
	default:
		// Nothing will make it work (the client is closed, the group is gone...): the entries
		// stay pending and come back, as if this consumer had died.
		a.c.log.Error("redis: acknowledge failed; the entries will be delivered again", "err", err)
	}
	a.sent(batch)
	return true
}

// stop sends what is pending and ends the acker. No add may follow.
func (a *acker) stop() {
	close(a.quit)
	<-a.done
}

func (a *acker) loop() {
	defer close(a.done)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		select {
		case <-a.wake:
		case <-a.quit:
			a.finish()
			return
		}
		linger.Reset(ackLinger) // the read loop may take them with its next read meanwhile
		select {
		case <-linger.C:
		case <-a.quit:
			a.finish()
			return
		}
		if a.take(a.batch) > 0 && !a.flush(a.quit) {
			a.giveBack(a.batch) // for finish
		}
	}
}

// finish sends what is pending, giving up after finishTimeout.
func (a *acker) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	if n := a.take(a.batch); n > 0 && !a.flush(ctx.Done()) {
		a.c.log.Warn("redis: acknowledgements not sent before Consume ended; those entries will be delivered again",
			"entries", n)
	}
}

// flush sends a.batch, retrying with backoff while Redis is unreachable, until it is done
// with it (true) or giveUp is closed (false).
func (a *acker) flush(giveUp <-chan struct{}) bool {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
		pipe := a.c.b.client.Pipeline()
		cmds := a.queue(ctx, pipe, a.batch)
		_, _ = pipe.Exec(ctx)
		cancel()
		err := ackErr(cmds)
		if a.result(a.batch, err) {
			return true
		}
		if attempt == 1 {
			a.c.log.Warn("redis: acknowledge failed; retrying", "err", err)
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

// ackErr returns the errors of the XACKs cmds, if any.
func ackErr(cmds []*redis.IntCmd) error {
	var errs []error
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 1 {
		return errs[0] // keeps it a redis.Error for transient()
	}
	return errors.Join(errs...)
}
