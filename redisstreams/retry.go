package redisstreams

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/courier-go/courier"
	"github.com/redis/go-redis/v9"
)

// reconnectBackoff paces retries while Redis is unreachable.
var reconnectBackoff = courier.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2}

// transient reports whether err may go away by itself: the connection failed or Redis is
// starting, failing over or loading its data. Errors Redis replied with otherwise (a wrong
// type, a script error...) are not, and neither are a closed client or a context's end.
func transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, redis.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "READONLY"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true // network and pool errors
}

// pause waits for the backoff delay after the given failed attempt; false if ctx or stop
// ended first.
func pause(ctx context.Context, stop <-chan struct{}, attempt int) bool {
	t := time.NewTimer(reconnectBackoff.Delay(attempt))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
