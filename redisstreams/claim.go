package redisstreams

import (
	"context"
	"fmt"

	"github.com/courier-go/courier"
	"github.com/redis/go-redis/v9"
)

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
			return false, c.errorf("consume", s, "claim script returned %d values", len(res))
		}
		cursor, _ := res[0].(string)
		entries, _ := res[1].([]any)
		counts, _ := res[2].([]any)
		if cursor == "" || len(counts) != len(entries) {
			return false, c.errorf("consume", s, "claim script returned an unexpected reply")
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
				msg, err = c.b.cfg.layout().decodePairs(s.topic, id, fields)
				if n, ok := counts[j].(int64); ok {
					msg.Attempt = int(n)
				}
			}
			r.mu.Lock()
			r.held[i][id] = struct{}{}
			r.mu.Unlock()
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
