package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/redis/go-redis/v9"
)

// Lease is an eventsource.Lease across processes: a Redis key set with a random token
// (SET NX PX), renewed every TTL/3 while held, and deleted on release only if it still
// holds the token. A holder that cannot renew in time (a network partition, a paused
// process) loses the lease: its context ends. As with every lease on a key with a time to
// live, a holder paused for longer than TTL may act for a moment after another took over;
// what the relay does then is safe (sends again what the checkpoint says; consumers drop
// duplicates by message ID) but not exclusive.
type Lease struct {
	Client redis.UniversalClient
	// Prefix is the hash tag and start of the lease keys: "{Prefix}:lease:<name>"; "" means
	// DefaultPrefix.
	Prefix string
	// TTL is how long the lease lasts without renewal; 0 means 10 s.
	TTL time.Duration
}

// Acquire implements eventsource.Lease.
func (l Lease) Acquire(ctx context.Context, name string) (context.Context, func(), error) {
	if l.Client == nil {
		return nil, nil, errors.New("redisstore: lease: nil Client")
	}
	if name == "" {
		return nil, nil, errors.New("redisstore: lease: empty name")
	}
	ttl := l.TTL
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	prefix := l.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	key := "{" + prefix + "}:lease:" + name
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	err := eventsource.WaitForLease(ctx, ttl/3, func(ctx context.Context) (bool, error) {
		return l.Client.SetNX(ctx, key, token, ttl).Result()
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("redisstore: lease %q: %w", name, err)
	}
	held, release := eventsource.KeepLease(ctx, ttl/3,
		func(ctx context.Context) error {
			n, err := renewScript.Run(ctx, l.Client, []string{key}, token, ttl.Milliseconds()).Int()
			if err == nil && n == 0 {
				err = errors.New("held by another token")
			}
			if err != nil {
				return fmt.Errorf("redisstore: lease %q lost: %w", name, err)
			}
			return nil
		},
		func(ctx context.Context) error {
			return releaseScript.Run(ctx, l.Client, []string{key}, token).Err() // else it expires after TTL
		})
	return held, release, nil
}
