package redisstreams

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/driver"
)

// finishTimeout bounds the Redis calls a stopping Consume makes to acknowledge and release
// what it still holds; what fails is delivered again after ClaimIdle.
const finishTimeout = 5 * time.Second

// run is one call of Consume: the read loop (read.go), the claims (claim.go), the upkeep of
// what it holds (hold.go), the engine and its settler (settle.go), the acker, and what they share.
type run struct {
	c    *consumer
	cfg  Config
	eng  *driver.Engine
	acks *acker

	readArgs *redis.XReadGroupArgs
	cursors  []string // XAUTOCLAIM cursor per stream

	batch []driver.Delivery // entries read and not yet submitted; reused
	ids   []string          // their entry IDs; a new array for each batch, as Delivery.Ref points into it

	mu       sync.Mutex
	held     []map[string]struct{} // per stream: entries read and not yet acknowledged or handed back
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
	r.readArgs = &redis.XReadGroupArgs{Group: c.cfg.Group, Consumer: c.name, Streams: keys, Count: int64(r.cfg.ReadCount), Block: r.cfg.Block}
	for i := range r.cursors {
		r.cursors[i] = "0-0"
	}
	ec := driver.FromConsumerConfig("redis", c.cfg)
	// Room for two reads of each stream, so that a read is submitted while the handlers work
	// on the one before.
	ec.QueueSize = max(4*c.cfg.Concurrency, 2*r.cfg.ReadCount*len(c.streams))
	r.eng = driver.NewEngine(ctx, h, r, ec)
	r.acks = newAcker(c, r.acked)
	return r
}

// consume reads until ctx ends, then stops the engine and settles with Redis what is left.
// first says no Consume ran before on this consumer, so nothing is pending under its name
// (which no other consumer has).
func (r *run) consume(ctx context.Context, first bool) error {
	keeperDone := make(chan struct{})
	keeperStop := make(chan struct{})
	go func() { defer close(keeperDone); r.keep(keeperStop) }()

	if !first {
		r.reclaimOwn(ctx)
	}
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
