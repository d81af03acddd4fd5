package middleware

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/courier-go/courier"
)

// DefaultMaxKeys is MemoryStoreConfig.MaxKeys when it is 0.
const DefaultMaxKeys = 100_000

// MemoryStoreConfig configures a MemoryStore. The zero value selects the defaults.
type MemoryStoreConfig struct {
	// MaxKeys bounds the keys the store holds, claimed or committed; 0 means DefaultMaxKeys.
	// When it is full, the key claimed longest ago goes first (counted in
	// MemoryStoreStats.Evicted when it had not expired): a copy of its message may then run
	// again. Size it above the messages a TTL brings. The store allocates its bookkeeping for
	// MaxKeys keys up front (24 bytes each) and its map as keys come.
	MaxKeys int
}

// Validate says what is wrong with c, wrapping courier.ErrInvalidConfig.
func (c MemoryStoreConfig) Validate() error {
	if c.MaxKeys < 0 {
		return fmt.Errorf("%w: dedup memory store config: negative MaxKeys %d", courier.ErrInvalidConfig, c.MaxKeys)
	}
	return nil
}

// MemoryStore is a Store in the process's memory, bounded in keys, with leases and TTLs. It
// suits a single consumer process (one consumer, or several sharing the store); consumers in
// several processes need a shared store (dedupredis, deduppg). Its calls allocate nothing
// once it is full (or its map has grown to its working size).
type MemoryStore struct {
	mu      sync.Mutex
	epoch   time.Time // times are nanoseconds since epoch, on the monotonic clock
	entries map[string]memEntry
	order   []orderSlot // keys by claim time, a ring; slots whose seq differs from the entry's are stale
	head, n int
	seq     uint64 // last slot number, also used for tokens
	evicted uint64
}

type memEntry struct {
	seq     uint64 // the entry's slot in order
	tok     Token  // the claim holding or having committed the key
	expires int64
	done    bool
}

type orderSlot struct {
	key string
	seq uint64
}

// MemoryStoreStats are counters of a MemoryStore.
type MemoryStoreStats struct {
	Keys    int    // keys held, expired ones not yet dropped included
	Evicted uint64 // keys dropped for room before their lease or TTL ran out
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryStoreConfig) (*MemoryStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	return &MemoryStore{epoch: time.Now(), entries: make(map[string]memEntry), order: make([]orderSlot, cfg.MaxKeys)}, nil
}

// Stats returns the store's counters.
func (s *MemoryStore) Stats() MemoryStoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return MemoryStoreStats{Keys: len(s.entries), Evicted: s.evicted}
}

func (s *MemoryStore) now() int64 { return int64(time.Since(s.epoch)) }

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, key string, lease time.Duration) (ClaimStatus, Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e, ok := s.entries[key]; ok && e.expires > now {
		if e.done {
			return Done, 0, nil
		}
		return Busy, 0, nil
	}
	s.seq++ // claims take their token from the same count as slots, so it is never reused
	tok := Token(s.seq)
	s.insert(key, memEntry{tok: tok, expires: now + int64(lease)}, now)
	return Claimed, tok, nil
}

// insert adds key as the newest entry, making room first.
func (s *MemoryStore) insert(key string, e memEntry, now int64) {
	s.dropExpired(now)
	if s.n == len(s.order) {
		s.popOldest(now)
	}
	s.seq++
	e.seq = s.seq
	s.entries[key] = e
	s.order[(s.head+s.n)%len(s.order)] = orderSlot{key: key, seq: s.seq}
	s.n++
}

// Commit implements Store.
func (s *MemoryStore) Commit(_ context.Context, key string, tok Token, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e, ok := s.entries[key]
	switch {
	case !ok: // the lease ran out and the key was dropped: nobody else holds it
		s.insert(key, memEntry{tok: tok, expires: now + int64(ttl), done: true}, now)
		return nil
	case e.tok != tok && e.expires > now:
		return fmt.Errorf("%w: key %q was claimed again after the lease ran out", ErrLeaseLost, key)
	}
	// tok's claim, or one whose lease ran out and that counts as absent
	e.tok, e.done, e.expires = tok, true, now+int64(ttl)
	s.entries[key] = e
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key string, tok Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok && e.tok == tok && !e.done {
		delete(s.entries, key) // its slot in order is stale now
	}
	return nil
}

// dropExpired pops a few slots off the front of order while they are stale or expired, so
// that expired keys leave without a sweeping goroutine; a few per call keeps each call short.
func (s *MemoryStore) dropExpired(now int64) {
	for range 4 {
		if s.n == 0 {
			return
		}
		slot := s.order[s.head]
		if e, ok := s.entries[slot.key]; ok && e.seq == slot.seq && e.expires > now {
			return
		}
		s.popOldest(now)
	}
}

// popOldest removes the front slot of order and its key, if the slot is not stale.
func (s *MemoryStore) popOldest(now int64) {
	slot := s.order[s.head]
	s.order[s.head] = orderSlot{}
	s.head = (s.head + 1) % len(s.order)
	s.n--
	if e, ok := s.entries[slot.key]; ok && e.seq == slot.seq {
		delete(s.entries, slot.key)
		if e.expires > now {
			s.evicted++
		}
	}
}
