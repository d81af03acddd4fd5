package redisstreams

import (
	"context"
	"time"
)

// keep stops other consumers from taking over the entries this one is still working on,
// by resetting their idle time, until stop is closed.
func (r *run) keep(stop <-chan struct{}) {
	period := r.cfg.ClaimIdle / 3 // an entry in progress is never idle for much more than this
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
