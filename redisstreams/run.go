package redisstreams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/internal/dispatch"
	"github.com/redis/go-redis/v9"
)

// finishTimeout bounds the Redis calls a stopping Consume makes to acknowledge and release
// what it still holds; what fails is delivered again after ClaimIdle.
const finishTimeout = 5 * time.Second

// run is one call of Consume: the read loop, the engine, and what they share.
type run struct {
	c    *consumer
	cfg  Config
	eng  *dispatch.Engine
	acks *acker

	readArgs *redis.XReadGroupArgs
	cursors  []string // XAUTOCLAIM cursor per stream

	batch []dispatch.Delivery // entries read and not yet submitted; reused
	ids   []string            // their entry IDs; a new array for each batch, as Delivery.Ref points into it

	mu       sync.Mutex
	held     []map[string]struct{} // per stream: entries submitted and not yet settled
	released [][]string            // per stream: entries handed back, for the group to take over
}

func newRun(ctx context.Context, c *consumer, h courier.MessageHandler) *run {
	r := &run{
		c: c, cfg: c.b.cfg,
		cursors:  make([]string, len(c.streams)),
		held:     make([]map[string]struct{}, len(c.streams)),
		released: make([][]string, len(c.streams)),
	}
	for i := range r.held {
		r.held[i] = make(map[string]struct{})
	}
	keys := make([]string, 0, 2*len(c.streams))
	for _, s := range c.streams {
		keys = append(keys, s.key)
	}
	for range c.streams {
		keys = append(keys, ">")
	}
	r.readArgs = &redis.XReadGroupArgs{Group: c.cfg.Group, Consumer: c.name, Streams: keys, Count: int64(r.cfg.ReadCount)}
	for i := range r.cursors {
		r.cursors[i] = "0-0"
	}
	ec := dispatch.FromConsumerConfig("redis", c.cfg)
	// Room for one read of each stream beyond what the handlers hold, so the next read is
	// under way while they work.
	ec.QueueSize = max(4*c.cfg.Concurrency, 2*r.cfg.ReadCount*len(c.streams))
	r.eng = dispatch.New(ctx, h, r, ec)
	r.acks = newAcker(c, r.acked)
	return r
}

// consume reads until ctx ends, then stops the engine and settles with Redis what is left.
func (r *run) consume(ctx context.Context) error {
	keeperDone := make(chan struct{})
	keeperStop := make(chan struct{})
	go func() { defer close(keeperDone); r.keep(keeperStop) }()

	err := r.loop(ctx)

	r.eng.Close() // waits for the handlers (bounded); what they did not finish is released
	close(keeperStop)
	<-keeperDone
	r.acks.stop()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	r.flushReleases(fctx)
	for _, s := range r.c.streams {
		_ = forgetScript.Run(fctx, r.c.b.client, []string{s.key}, r.c.cfg.Group, r.c.name).Err()
	}
	return err
}

// loop reads entries and submits them to the engine until ctx ends. It returns an error
// only when it cannot go on.
func (r *run) loop(ctx context.Context) error {
	c := r.c
	r.reclaimOwn(ctx)
	nextClaim := time.Now()
	failures := 0
	for ctx.Err() == nil {
		if now := time.Now(); !now.Before(nextClaim) {
			more, err := r.claimPass(ctx)
			switch {
			case err != nil:
				if fatal := r.readFailed(ctx, err, &failures); fatal != nil {
					return fatal
				}
				continue
			case more:
				nextClaim = now // there may be more to take over: look again at once
			default:
				nextClaim = now.Add(r.cfg.ClaimInterval)
			}
		}
		r.readArgs.Block = max(min(r.cfg.Block, time.Until(nextClaim)), time.Millisecond)
		res, err := c.b.client.XReadGroup(ctx, r.readArgs).Result()
		if errors.Is(err, redis.Nil) {
			continue // BLOCK ran out
		}
		if err != nil {
			if fatal := r.readFailed(ctx, err, &failures); fatal != nil {
				return fatal
			}
			continue
		}
		if failures > 0 {
			c.log.Info("redis: reading again")
			failures = 0
		}
		for _, xs := range res {
			if i, ok := c.byKey[xs.Stream]; ok {
				for _, m := range xs.Messages {
					msg, err := decodeMap(c.streams[i].topic, m.Values)
					r.add(i, m.ID, msg, err)
				}
			}
		}
		if !r.submitBatch(ctx) {
			return nil
		}
	}
	return nil
}

// readFailed handles a failed read or claim: it returns an error when Consume cannot go on,
// and otherwise waits (a backoff, or until ctx ends) before the next try.
func (r *run) readFailed(ctx context.Context, err error, failures *int) error {
	c := r.c
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("redis: %s: group %q: consume: %w", c.b.addr, c.cfg.Group, err)
	case isNoGroup(err):
		// The stream or group is gone (deleted, or Redis restarted without persistence):
		// make it again and read on.
		c.log.Warn("redis: group missing; creating it again", "err", err)
		for _, s := range c.streams {
			if cerr := c.ensureGroup(ctx, s); cerr != nil {
				err = cerr
			}
		}
	case !transient(err):
		return fmt.Errorf("redis: %s: group %q: consume: %w", c.b.addr, c.cfg.Group, err)
	}
	*failures++
	if *failures == 1 {
		c.log.Warn("redis: read failed; retrying with backoff", "err", err)
	}
	pause(ctx, nil, *failures)
	return nil
}

// add appends one entry to the batch to submit. An entry that is not a courier message is
// left pending, where XPENDING shows it, and logged.
func (r *run) add(i int, id string, msg courier.Message, decodeErr error) {
	if decodeErr != nil {
		r.c.log.Error("redis: stream entry is not a courier message; left pending", "topic", r.c.streams[i].topic,
			"entry", id, "err", decodeErr)
		return
	}
	r.ids = append(r.ids, id)
	r.batch = append(r.batch, dispatch.Delivery{Msg: msg, Tag: uint64(i)})
}

// submitBatch hands the batch to the engine; false if the engine no longer takes any (the
// rest of the batch is released). The whole batch is decoded before the first Submit, so
// that the handlers are woken once for it rather than once per entry.
func (r *run) submitBatch(ctx context.Context) bool {
	defer func() {
		clear(r.batch)
		r.batch, r.ids = r.batch[:0], nil
	}()
	r.mu.Lock()
	for k := range r.batch {
		r.held[r.batch[k].Tag][r.ids[k]] = struct{}{}
	}
	r.mu.Unlock()
	for k := range r.batch {
		d := &r.batch[k]
		d.Ref = &r.ids[k] // a pointer: no allocation per entry; r.ids is new for each batch
		if err := r.eng.Submit(ctx, *d); err != nil {
			for _, rest := range r.batch[k:] {
				r.release(int(rest.Tag), *rest.Ref.(*string))
			}
			return false
		}
	}
	return true
}

// reclaimOwn hands back the entries still pending under this consumer's name from an earlier
// Consume, so that the first claim pass takes them (with their delivery count raised).
func (r *run) reclaimOwn(ctx context.Context) {
	c := r.c
	for i, s := range c.streams {
		pending, err := c.b.client.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: s.key, Group: c.cfg.Group, Start: "-", End: "+", Count: 10000, Consumer: c.name,
		}).Result()
		if err != nil {
			continue // a Consume that ended on an unreachable Redis: they come back after ClaimIdle
		}
		for _, p := range pending {
			r.release(i, p.ID)
		}
	}
	r.flushReleases(ctx)
}

// claimPass takes over, on each stream, entries idle for ClaimIdle in the group (left by
// consumers that died or closed) and submits them. more says a stream may have more.
func (r *run) claimPass(ctx context.Context) (more bool, err error) {
	c := r.c
	minIdle := r.cfg.ClaimIdle.Milliseconds()
	for i, s := range c.streams {
		res, err := claimScript.Run(ctx, c.b.client, []string{s.key},
			c.cfg.Group, c.name, minIdle, r.cursors[i], r.cfg.ReadCount).Slice()
		if err != nil {
			return false, err
		}
		if len(res) != 3 {
			return false, c.errorf(s, "claim script returned %d values", len(res))
		}
		cursor, _ := res[0].(string)
		entries, _ := res[1].([]any)
		counts, _ := res[2].([]any)
		if cursor == "" || len(counts) != len(entries) {
			return false, c.errorf(s, "claim script returned an unexpected reply")
		}
		r.cursors[i] = cursor
		if len(entries) > 0 {
			c.log.Info("redis: took over idle entries", "topic", s.topic, "entries", len(entries))
		}
		for j, e := range entries {
			var (
				id  string
				msg courier.Message
				err = fmt.Errorf("malformed entry %v", e)
			)
			if pair, ok := e.([]any); ok && len(pair) == 2 {
				id, _ = pair[0].(string)
				fields, _ := pair[1].([]any)
				msg, err = decodePairs(s.topic, fields)
				if n, ok := counts[j].(int64); ok {
					msg.Attempt = int(n)
				}
			}
			r.add(i, id, msg, err)
		}
		if !r.submitBatch(ctx) {
			return false, nil
		}
		if len(entries) >= r.cfg.ReadCount {
			more = true
		}
	}
	return more, nil
}

// keep stops other consumers from taking over the entries this one is still working on,
// by resetting their idle time, until stop is closed.
func (r *run) keep(stop <-chan struct{}) {
	period := min(r.cfg.ClaimInterval, r.cfg.ClaimIdle/3)
	t := time.NewTicker(period)
	defer t.Stop()
	ids := make([][]string, len(r.held))
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		for i, h := range r.held {
			ids[i] = ids[i][:0]
			for id := range h {
				ids[i] = append(ids[i], id)
			}
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), max(period, time.Second))
		for i, s := range r.c.streams {
			if err := r.touch(ctx, i, ids[i], 0); err != nil && !isNoGroup(err) {
				r.c.log.Warn("redis: could not refresh the entries in progress; another consumer may take them over",
					"topic", s.topic, "entries", len(ids[i]), "err", err)
			}
		}
		cancel()
	}
}

// touch runs touchScript on entries ids of stream i, in chunks.
func (r *run) touch(ctx context.Context, i int, ids []string, idle time.Duration) error {
	c := r.c
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, 0, 3+n)
		args = append(args, c.cfg.Group, c.name, idle.Milliseconds())
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		if err := touchScript.Run(ctx, c.b.client, []string{c.streams[i].key}, args...).Err(); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// settled forgets entry id of stream i: it is no longer this consumer's to keep.
func (r *run) settled(i int, id string) {
	r.mu.Lock()
	delete(r.held[i], id)
	r.mu.Unlock()
}

// acked forgets entries whose XACK was sent (or given up), per stream.
func (r *run) acked(byStream [][]string) {
	r.mu.Lock()
	for i, ids := range byStream {
		for _, id := range ids {
			delete(r.held[i], id)
		}
	}
	r.mu.Unlock()
}

// release records entry id of stream i as handed back; flushReleases tells Redis.
func (r *run) release(i int, id string) {
	r.mu.Lock()
	delete(r.held[i], id)
	r.released[i] = append(r.released[i], id)
	r.mu.Unlock()
}

// flushReleases makes the released entries idle at once, so that the group's live consumers
// take them over on their next claim pass instead of after ClaimIdle.
func (r *run) flushReleases(ctx context.Context) {
	// Idle long enough for any consumer's ClaimIdle, yet short of the Unix epoch, which
	// Redis would turn into an idle time of 0.
	const idle = 365 * 24 * time.Hour
	r.mu.Lock()
	released := r.released
	r.released = make([][]string, len(released))
	r.mu.Unlock()
	for i, ids := range released {
		if err := r.touch(ctx, i, ids, idle); err != nil {
			r.c.log.Warn("redis: could not hand back entries; the group takes them over after ClaimIdle",
				"topic", r.c.streams[i].topic, "entries", len(ids), "err", err)
		}
	}
}

// Ack queues the entry's XACK; the acker sends them in batches.
func (r *run) Ack(ctx context.Context, d dispatch.Delivery) error {
	return r.acks.add(ctx, int(d.Tag), *d.Ref.(*string))
}

// Retry re-claims the entry before it is handled again, which raises its delivery count in
// Redis; Attempt is that count. It fails when another consumer has taken the entry over or it
// was trimmed away, and the engine then leaves it.
func (r *run) Retry(ctx context.Context, d dispatch.Delivery) (dispatch.Delivery, error) {
	c := r.c
	s := c.streams[d.Tag]
	id := *d.Ref.(*string)
	for attempt := 1; ; attempt++ {
		n, err := retryScript.Run(ctx, c.b.client, []string{s.key}, c.cfg.Group, c.name, id).Int64()
		switch {
		case err == nil && n == -1:
			r.settled(int(d.Tag), id)
			return d, c.errorf(s, "entry %s is no longer pending with consumer %s: another consumer took it over", id, c.name)
		case err == nil && n == -2:
			r.settled(int(d.Tag), id)
			return d, c.errorf(s, "entry %s was deleted from the stream (trimmed) before it could be retried", id)
		case err == nil:
			d.Msg.Attempt = int(n)
			return d, nil
		case !transient(err) || !pause(ctx, nil, attempt):
			// Still pending with this consumer but no longer held: it goes idle and the
			// group takes it over after ClaimIdle.
			r.settled(int(d.Tag), id)
			return d, c.errorf(s, "re-claim entry %s for retry: %w", id, err)
		}
	}
}

// Release records the entry as handed back; Consume tells Redis when it ends.
func (r *run) Release(d dispatch.Delivery) { r.release(int(d.Tag), *d.Ref.(*string)) }
