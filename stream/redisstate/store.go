// Package redisstate keeps the keyed state of courier's stream package in Redis: a
// stream.Store whose updates are one Lua script each, so checking the update's ID, checking
// the version, writing the value and remembering the ID happen atomically, whichever process
// runs them. Several consumers (on any broker) may share keys through it.
//
// # Layout
//
// For table T and key K (P is Config.Prefix, N the length of T in bytes):
//
//	P{N:T}:s:K   hash: v (the value) and ver (the version)
//	P{N:T}:i:K   sorted set: the IDs of K's latest updates, scored by the version they made
//	P{N:T}:keys  set: the keys of T that have state
//
// The {N:T} hash tag puts a table in one hash slot, so the scripts run on Redis Cluster too
// (a table lives on one node). The length makes the names unambiguous whatever bytes T and K
// hold.
package redisstate

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/stream"
)

// DefaultPrefix starts the Redis keys of a Store whose Config.Prefix is empty.
const DefaultPrefix = "courier:stream:"

// Config configures a Store. The zero value selects the defaults.
type Config struct {
	// Prefix starts every Redis key the store writes; empty means DefaultPrefix.
	Prefix string
	// Remember is how many update IDs per key are kept; 0 means stream.DefaultRemember.
	Remember int
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Remember < 0 {
		return fmt.Errorf("%w: redisstate: negative Remember %d", courier.ErrInvalidConfig, c.Remember)
	}
	return nil
}

// Store is a stream.Store in Redis. It is safe for concurrent use.
type Store struct {
	rdb      redis.UniversalClient
	prefix   string
	remember int
}

// New returns a Store on rdb, which it never closes.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: redisstate: nil Redis client", courier.ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Remember == 0 {
		cfg.Remember = stream.DefaultRemember
	}
	return &Store{rdb: rdb, prefix: cfg.Prefix, remember: cfg.Remember}, nil
}

var _ stream.Store = (*Store)(nil)

func (s *Store) tablePrefix(table string) string {
	return s.prefix + "{" + strconv.Itoa(len(table)) + ":" + table + "}"
}

func (s *Store) keys(table, key string) (state, ids, index string) {
	p := s.tablePrefix(table)
	return p + ":s:" + key, p + ":i:" + key, p + ":keys"
}

func wrap(op, table, key string, err error) error {
	return fmt.Errorf("redisstate: %s table %q key %q: %w", op, table, key, err)
}

// Get implements stream.Store.
func (s *Store) Get(ctx context.Context, table, key string) (stream.State, error) {
	state, _, _ := s.keys(table, key)
	vals, err := s.rdb.HMGet(ctx, state, "v", "ver").Result()
	if err != nil {
		return stream.State{}, wrap("get", table, key, err)
	}
	return parseState(vals[0], vals[1])
}

func parseState(v, ver any) (stream.State, error) {
	var st stream.State
	if ver == nil {
		return st, nil
	}
	vs, _ := ver.(string)
	n, err := strconv.ParseInt(vs, 10, 64)
	if err != nil {
		return st, fmt.Errorf("redisstate: bad version %q: %w", vs, err)
	}
	st.Version = n
	switch v := v.(type) {
	case string:
		st.Value = []byte(v)
	case nil:
		st.Value = []byte{}
	}
	return st, nil
}

//go:embed apply.lua
var applySrc string

var applyScript = redis.NewScript(applySrc)

// Apply implements stream.Store: one script checks the ID, then the version, then writes the
// value, remembers the ID (dropping the oldest beyond Config.Remember) and indexes the key.
func (s *Store) Apply(ctx context.Context, table, key string, u stream.Update) (stream.Outcome, stream.State, error) {
	if err := stream.CheckUpdate(table, key, u); err != nil {
		return 0, stream.State{}, err
	}
	if err := ctx.Err(); err != nil {
		return 0, stream.State{}, wrap("apply", table, key, err)
	}
	state, ids, index := s.keys(table, key)
	res, err := applyScript.Run(ctx, s.rdb, []string{state, ids, index},
		u.ID, u.Expect, u.Value, s.remember, key).Slice()
	if err != nil {
		return 0, stream.State{}, wrap("apply", table, key, err)
	}
	if len(res) != 3 {
		return 0, stream.State{}, wrap("apply", table, key, fmt.Errorf("script returned %d values, want 3", len(res)))
	}
	out, _ := res[0].(int64)
	ver, _ := res[1].(int64)
	var verArg any
	if ver > 0 {
		verArg = strconv.FormatInt(ver, 10)
	}
	st, err := parseState(res[2], verArg)
	if err != nil {
		return 0, stream.State{}, wrap("apply", table, key, err)
	}
	switch o := stream.Outcome(out); o {
	case stream.Applied, stream.Duplicate, stream.Conflict:
		return o, st, nil
	}
	return 0, stream.State{}, wrap("apply", table, key, fmt.Errorf("script returned outcome %d", out))
}

// Keys implements stream.Store.
func (s *Store) Keys(ctx context.Context, table string) ([]string, error) {
	_, _, index := s.keys(table, "")
	keys, err := s.rdb.SMembers(ctx, index).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstate: keys of table %q: %w", table, err)
	}
	return keys, nil
}

// Delete implements stream.Store.
func (s *Store) Delete(ctx context.Context, table, key string) error {
	state, ids, index := s.keys(table, key)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, state, ids)
		p.SRem(ctx, index, key)
		return nil
	})
	if err != nil {
		return wrap("delete", table, key, err)
	}
	return nil
}

// String describes the store for logs.
func (s *Store) String() string { return "redisstate(" + strings.TrimSuffix(s.prefix, ":") + ")" }
