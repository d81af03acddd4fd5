package redisstreams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// fetched is the outcome of one XREADGROUP: entries, or an error that ends Consume.
type fetched struct {
	res []redis.XStream
	err error
}

// loop submits to the engine the entries that fetch reads, and runs the claim passes, until
// ctx ends. It returns an error only when it cannot go on.
func (r *run) loop(ctx context.Context) error {
	c := r.c
	failures := 0
	// Take over what is due before reading new entries, which are younger.
	more, err := r.claimPass(ctx)
	if err != nil {
		if fatal := r.readFailed(ctx, err, &failures); fatal != nil {
			return fatal
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	reads := make(chan fetched, 1)
	go r.fetch(ctx, reads)
	defer func() {
		cancel()
		for f := range reads { // wait for fetch to end; the group gets back what it read
			r.releaseRead(f.res)
		}
	}()
	claim := time.NewTimer(r.cfg.ClaimInterval)
	defer claim.Stop()
	if more {
		claim.Reset(0)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case f, ok := <-reads:
			if !ok {
				return nil
			}
			if f.err != nil {
				return f.err
			}
			for _, xs := range f.res {
				i := c.byKey[xs.Stream]
				for _, m := range xs.Messages {
					msg, err := c.b.cfg.layout().decodeMap(c.streams[i].topic, m.ID, m.Values)
					r.add(i, m.ID, msg, err)
				}
			}
			if !r.submitBatch(ctx) {
				return nil
			}
		case <-claim.C:
			more, err := r.claimPass(ctx)
			switch {
			case err != nil:
				if fatal := r.readFailed(ctx, err, &failures); fatal != nil {
					return fatal
				}
				claim.Reset(0)
			case more:
				claim.Reset(0) // there may be more to take over: look again at once
			default:
				failures = 0
				claim.Reset(r.cfg.ClaimInterval)
			}
		}
	}
}

// fetch reads new entries with XREADGROUP and sends them on out, until ctx ends; then it
// closes out. It reads the next batch while loop submits the last, so the round trip to
// Redis overlaps the work on the entries. What it has read is held at once (see keep).
func (r *run) fetch(ctx context.Context, out chan<- fetched) {
	defer close(out)
	c := r.c
	failures := 0
	ackBatch := make([][]string, len(c.streams))
	for ctx.Err() == nil {
		res, err := r.read(ctx, ackBatch)
		if errors.Is(err, redis.Nil) {
			continue // BLOCK ran out
		}
		if err != nil {
			if fatal := r.readFailed(ctx, err, &failures); fatal != nil {
				out <- fetched{err: fatal} // loop reads until out is closed
				return
			}
			continue
		}
		if failures > 0 {
			c.log.Info("redis: reading again")
			failures = 0
		}
		res = slices.DeleteFunc(res, func(xs redis.XStream) bool { _, ok := c.byKey[xs.Stream]; return !ok })
		r.mu.Lock()
		for _, xs := range res {
			held := r.held[c.byKey[xs.Stream]]
			for _, m := range xs.Messages {
				held[m.ID] = struct{}{}
			}
		}
		r.mu.Unlock()
		select {
		case out <- fetched{res: res}:
		case <-ctx.Done():
			r.releaseRead(res)
		}
	}
}

// read runs one XREADGROUP. When handled entries wait for their XACK, it sends those in
// the same pipeline, and reads without blocking (a pipeline has the client's ordinary read
// timeout, which BLOCK could exceed); the next read blocks if this one found nothing.
func (r *run) read(ctx context.Context, ackBatch [][]string) ([]redis.XStream, error) {
	client := r.c.b.client
	if r.acks.take(ackBatch) == 0 {
		return client.XReadGroup(ctx, r.readArgs).Result()
	}
	pipe := client.Pipeline()
	acks := r.acks.queue(ctx, pipe, ackBatch)
	args := *r.readArgs
	args.Block = -1
	read := pipe.XReadGroup(ctx, &args)
	_, _ = pipe.Exec(ctx)
	if !r.acks.result(ackBatch, ackErr(acks)) {
		r.acks.giveBack(ackBatch) // the acker tries again
	}
	return read.Result()
}

// releaseRead hands back entries read and not submitted.
func (r *run) releaseRead(res []redis.XStream) {
	for _, xs := range res {
		i := r.c.byKey[xs.Stream]
		for _, m := range xs.Messages {
			r.release(i, m.ID)
		}
	}
}

// readFailed handles a failed read or claim: it returns an error when Consume cannot go on,
// and otherwise waits (a backoff, or until ctx ends) before the next try.
func (r *run) readFailed(ctx context.Context, err error, failures *int) error {
	c := r.c
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("redis: consume %s: group %q: %w", strings.Join(c.cfg.Topics, ","), c.cfg.Group, err)
	case isNoGroup(err):
		// The stream or group is gone (deleted, or Redis restarted without persistence):
		// make it again and read on.
		c.log.Warn("redis: group missing; creating it again", "err", err)
		for _, s := range c.streams {
			if cerr := c.ensureGroup(ctx, "consume", s); cerr != nil {
				err = cerr
			}
		}
	case !transient(err):
		return fmt.Errorf("redis: consume %s: group %q: %w", strings.Join(c.cfg.Topics, ","), c.cfg.Group, err)
	}
	*failures++
	if *failures == 1 {
		c.log.Warn("redis: read failed; retrying with backoff", "err", err)
	}
	pause(ctx, nil, *failures)
	return nil
}

// add appends one entry to the batch to submit. An entry that cannot be decoded (a
// courier entry whose fields are damaged) goes to the engine as Undecodable, with what could
// be read of it: the consumer's OnExhausted settles it (drops it with a log by default, or
// dead-letters it), instead of it staying pending and coming back for good.
func (r *run) add(i int, id string, msg courier.Message, decodeErr error) {
	if id == "" { // a reply without an entry ID: nothing to settle it by
		r.c.log.Error("redis: malformed entry in a reply; skipped", "topic", r.c.streams[i].topic, "err", decodeErr)
		return
	}
	d := driver.Delivery{Msg: msg, Tag: uint64(i)}
	if decodeErr != nil {
		d.Undecodable = fmt.Errorf("redis: consume %s: entry %s cannot be decoded: %w", r.c.streams[i].topic, id, decodeErr)
	}
	r.ids = append(r.ids, id)
	r.batch = append(r.batch, d)
}

// submitBatch hands the batch, already held, to the engine; false if the engine no longer
// takes any (the rest of the batch is released). The whole batch is decoded first and
// submitted at once, so that the engine's lock is taken once for it rather than once per entry.
func (r *run) submitBatch(ctx context.Context) bool {
	defer func() {
		clear(r.batch)
		r.batch, r.ids = r.batch[:0], nil
	}()
	for k := range r.batch {
		r.batch[k].Ref = &r.ids[k] // a pointer: no allocation per entry; r.ids is new for each batch
	}
	n, err := r.eng.SubmitAll(ctx, r.batch)
	if err != nil {
		for _, rest := range r.batch[n:] {
			r.release(int(rest.Tag), *rest.Ref.(*string))
		}
		return false
	}
	return true
}
