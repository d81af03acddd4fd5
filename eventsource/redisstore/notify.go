package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// watchBlock is how long one XREAD of the watcher blocks: also how long Close may wait for it.
const watchBlock = 500 * time.Millisecond

// Changed implements eventsource.Notifier: the channel is closed when the global log may
// have grown. The first call reads where the log ends and starts a goroutine that waits for
// new entries with XREAD BLOCK on a connection of its own; Close stops it.
func (s *Store) Changed() <-chan struct{} {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	ch := s.changed
	if s.closed.Load() {
		s.wake()
		return ch
	}
	if !s.watching {
		s.watching = true
		// Start from the log's end as it is now, so that an append between this call and the
		// watcher's first XREAD still wakes the caller.
		last := "$"
		ctx, cancel := context.WithTimeout(s.watchCtx, 5*time.Second)
		if msgs, err := s.rdb.XRevRangeN(ctx, s.allKey(), "+", "-", 1).Result(); err == nil {
			last = "0-0"
			if len(msgs) > 0 {
				last = msgs[0].ID
			}
		}
		cancel()
		s.watchers.Go(func() { s.watch(last) })
	}
	return ch
}

// wake closes the current channel of Changed; the caller holds watchMu.
func (s *Store) wake() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// watch wakes the readers of Changed whenever the global log grows, until Close.
func (s *Store) watch(last string) {
	ctx := s.watchCtx
	for ctx.Err() == nil {
		res, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{s.allKey(), last}, Count: 1, Block: watchBlock}).Result()
		if errors.Is(err, redis.Nil) {
			continue // nothing new within watchBlock
		}
		if err != nil {
			// Readers poll anyway; wake them, and try again in a while.
			s.watchMu.Lock()
			s.wake()
			s.watchMu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(watchBlock):
			}
			continue
		}
		if len(res) > 0 && len(res[0].Messages) > 0 {
			last = res[0].Messages[len(res[0].Messages)-1].ID
		}
		s.watchMu.Lock()
		s.wake()
		s.watchMu.Unlock()
	}
}
