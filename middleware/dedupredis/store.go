// Package dedupredis is a middleware.Store in Redis, for consumers in several processes: a
// claim is SET NX PX with a random token, and commit and release are Lua scripts that act
// only while the key still holds the caller's token, so a consumer whose lease ran out can
// neither commit nor release a claim another consumer took since.
//
// A key holds "c:<token>" while claimed (expiring with the lease) and "d:<token>" once
// committed (expiring with the TTL). Keys are Config.Prefix followed by the message key; give
// each consumer group a prefix of its own. Works with Redis 2.6.12 and later, standalone,
// Sentinel or Cluster (each call touches one key).
package dedupredis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/middleware"
	"github.com/redis/go-redis/v9"
)

// Config configures a Store.
type Config struct {
	// Prefix starts every key the store writes, e.g. "billing:dedup:"; required, since keys
	// of two consumer groups must not meet.
	Prefix string
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Prefix == "" {
		return fmt.Errorf("%w: dedupredis: empty Prefix (give each consumer group one, e.g. \"billing:dedup:\")", courier.ErrInvalidConfig)
	}
	return nil
}

// Store is a middleware.Store in Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns a Store on rdb, which the caller keeps and closes.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: dedupredis: nil client", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{rdb: rdb, prefix: cfg.Prefix}, nil
}

var (
	// claimScript: 1 claimed, 2 done, 3 busy.
	claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], 'c:' .. ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 2) == 'd:' then return 2 end
return 3`)
	// commitScript: 1 committed, 0 another claim holds or committed the key.
	commitScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == 'c:' .. ARGV[1] or cur == 'd:' .. ARGV[1] then
	redis.call('SET', KEYS[1], 'd:' .. ARGV[1], 'PX', ARGV[2])
	return 1
end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == 'c:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// millis is d in whole milliseconds for PX, at least 1.
func millis(d time.Duration) int64 { return max(int64((d+time.Millisecond-1)/time.Millisecond), 1) }

// Claim implements middleware.Store.
func (s *Store) Claim(ctx context.Context, key string, lease time.Duration) (middleware.ClaimStatus, middleware.Token, error) {
	tok := middleware.Token(rand.Uint64() | 1) // never 0
	n, err := claimScript.Run(ctx, s.rdb, []string{s.prefix + key}, strconv.FormatUint(uint64(tok), 36), millis(lease)).Int()
	if err != nil {
		return 0, 0, fmt.Errorf("dedupredis: claim %q: %w", key, err)
	}
	switch n {
	case 1:
		return middleware.Claimed, tok, nil
	case 2:
		return middleware.Done, 0, nil
	}
	return middleware.Busy, 0, nil
}

// Commit implements middleware.Store.
func (s *Store) Commit(ctx context.Context, key string, tok middleware.Token, ttl time.Duration) error {
	n, err := commitScript.Run(ctx, s.rdb, []string{s.prefix + key}, strconv.FormatUint(uint64(tok), 36), millis(ttl)).Int()
	if err != nil {
		return fmt.Errorf("dedupredis: commit %q: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: dedupredis: key %q was claimed again after the lease ran out", middleware.ErrLeaseLost, key)
	}
	return nil
}

// Release implements middleware.Store.
func (s *Store) Release(ctx context.Context, key string, tok middleware.Token) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.prefix + key}, strconv.FormatUint(uint64(tok), 36)).Err(); err != nil {
		return fmt.Errorf("dedupredis: release %q: %w", key, err)
	}
	return nil
}
