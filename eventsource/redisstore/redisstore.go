// Package redisstore is an eventsource.Store on Redis (6.2 or later), with go-redis v9.
//
// # Layout
//
// All keys start with "{<Prefix>}:" (Config.Prefix, default "events"): the global log, a
// Redis stream whose entry IDs are 0-<sequence> and whose entries hold the events; one list
// per event stream of its events' sequence numbers (version v at index v-1); a hash of event
// IDs to sequence numbers; the sequence counter; and the checkpoints hash. An append is one
// Lua script, so Redis runs it atomically: it checks the expected version and the event IDs,
// adds the events to the global log, the stream's list and the ID hash, and returns the new
// version and position. A Position is (0, sequence). Because the script runs alone, the
// global log is written in sequence order and ReadAll has no gaps to worry about.
//
// # Durability
//
// The store is only as durable as the Redis server is configured to be. Redis acknowledges
// a write once it is in memory: with appendonly no (the default), a restart loses everything
// since the last RDB snapshot; with appendonly yes and appendfsync everysec, up to about a
// second of acknowledged appends; only appendfsync always writes each append to disk before
// it is acknowledged. Replication is asynchronous, so a failover to a replica can also lose
// acknowledged appends. Use pgstore where an acknowledged event must never be lost.
//
// # Redis Cluster
//
// A global order needs one sequence, and an atomic script may only touch keys of one hash
// slot; so every key of a store carries the same hash tag ({Prefix}) and the whole store
// lives in one slot, on one shard. A cluster does not spread one store's load: to scale out,
// give independent parts of the system stores of their own (different Prefixes), each with
// its own global order.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courier-go/courier/eventsource"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the hash tag of the store's keys unless configured.
const DefaultPrefix = "events"

// DefaultPageSize is how many events a read fetches per call unless configured.
const DefaultPageSize = 500

// Config configures a Store. The zero value uses the documented defaults.
type Config struct {
	// Prefix names the store: its keys start with "{Prefix}:". "" means DefaultPrefix.
	// It may not contain braces.
	Prefix string
	// MaxEventSize is the largest event (EventData.Size) Append accepts; 0 means
	// eventsource.DefaultMaxEventSize, negative means no limit (Redis's own is 512 MB).
	MaxEventSize int
	// PageSize is how many events a read fetches per call; 0 means DefaultPageSize.
	PageSize int
}

// Validate says what is wrong with cfg.
func (cfg Config) Validate() error {
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return fmt.Errorf("redisstore: Prefix %q contains a brace", cfg.Prefix)
	}
	if cfg.PageSize < 0 {
		return fmt.Errorf("redisstore: negative PageSize %d", cfg.PageSize)
	}
	return nil
}

// Store is an event store in Redis. Create it with New.
type Store struct {
	rdb    redis.UniversalClient
	cfg    Config
	tag    string // "{prefix}:"
	closed atomic.Bool

	watchMu   sync.Mutex
	changed   chan struct{} // closed when the log grows; see Changed
	watching  bool
	watchers  sync.WaitGroup
	watchCtx  context.Context // ends at Close
	stopWatch context.CancelFunc
	closeOnce sync.Once
}

// New returns a store on rdb. Close does not close rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.MaxEventSize == 0 {
		cfg.MaxEventSize = eventsource.DefaultMaxEventSize
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	s := &Store{rdb: rdb, cfg: cfg, tag: "{" + cfg.Prefix + "}:"}
	s.watchCtx, s.stopWatch = context.WithCancel(context.Background())
	return s, nil
}

func (s *Store) allKey() string               { return s.tag + "all" }
func (s *Store) streamKey(name string) string { return s.tag + "s:" + name }
func (s *Store) idsKey() string               { return s.tag + "ids" }
func (s *Store) seqKey() string               { return s.tag + "seq" }
func (s *Store) checkpointsKey() string       { return s.tag + "checkpoints" }

// KeyPattern returns a KEYS/SCAN pattern that matches every key of the store (and of a
// Lease with the same Prefix), for cleaning up.
func (s *Store) KeyPattern() string { return s.tag + "*" }

// Append implements eventsource.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	if s.closed.Load() {
		return eventsource.AppendResult{}, eventsource.ErrClosed
	}
	events, err := eventsource.PrepareAppend(stream, expected, events, s.cfg.MaxEventSize)
	if err != nil {
		return eventsource.AppendResult{}, err
	}
	kind, exp := "any", int64(0)
	if v, ok := expected.Version(); ok && v > 0 {
		kind, exp = "exact", v
	} else if ok {
		kind = "new"
	} else if expected.IsStreamExists() {
		kind = "exists"
	}
	args := make([]any, 0, 4+4*len(events))
	args = append(args, stream, kind, exp, len(events))
	for _, e := range events {
		meta := ""
		if len(e.Metadata) > 0 {
			b, err := json.Marshal(e.Metadata)
			if err != nil {
				return eventsource.AppendResult{}, fmt.Errorf("redisstore: append to stream %q: metadata of event %q: %w", stream, e.ID, err)
			}
			meta = string(b)
		}
		args = append(args, e.ID, e.Type, e.Data, meta)
	}
	keys := []string{s.allKey(), s.streamKey(stream), s.idsKey(), s.seqKey()}
	res, err := appendScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return eventsource.AppendResult{}, fmt.Errorf("redisstore: append to stream %q: %w", stream, err)
	}
	str := func(i int) string {
		if i < len(res) {
			switch v := res[i].(type) {
			case string:
				return v
			case int64:
				return strconv.FormatInt(v, 10)
			}
		}
		return ""
	}
	num := func(i int) int64 { n, _ := strconv.ParseInt(str(i), 10, 64); return n }
	switch str(0) {
	case "ok", "retry":
		return eventsource.AppendResult{Version: num(1), Position: eventsource.NewPosition(0, uint64(num(2)))}, nil
	case "conflict":
		return eventsource.AppendResult{}, &eventsource.ConflictError{Stream: stream, Expected: expected, Actual: num(1)}
	case "dup":
		return eventsource.AppendResult{}, fmt.Errorf("%w: stream %q: event ID %q is already stored as version %s of stream %q",
			eventsource.ErrDuplicateEventID, stream, str(1), str(3), str(2))
	}
	return eventsource.AppendResult{}, fmt.Errorf("redisstore: append to stream %q: unexpected script result %v", stream, res)
}

// ReadStream implements eventsource.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventsource.ReadOptions) iter.Seq2[eventsource.Event, error] {
	if err := opts.Validate(); err != nil {
		return eventsource.ReadError(fmt.Errorf("redisstore: stream %q: %w", stream, err))
	}
	return eventsource.Pages(ctx, fmt.Sprintf("redisstore: read stream %q", stream), opts.Limit, s.cfg.PageSize, func() eventsource.PageFunc {
		next := opts.From
		back := "0"
		if opts.Direction == eventsource.Backward {
			back = "1"
		}
		return func(n int) ([]eventsource.Event, bool, error) {
			if s.closed.Load() {
				return nil, true, eventsource.ErrClosed
			}
			raw, err := readStreamScript.Run(ctx, s.rdb, []string{s.streamKey(stream), s.allKey()}, next, n, back).Slice()
			if err != nil {
				return nil, true, err
			}
			page := make([]eventsource.Event, 0, len(raw))
			for _, r := range raw {
				e, err := parseEntry(r)
				if err != nil {
					return page, true, err
				}
				page = append(page, e)
			}
			if len(page) > 0 {
				next = page[len(page)-1].Version + 1
				if back == "1" {
					next -= 2
				}
			}
			return page, len(page) < n || (back == "1" && next < 1), nil
		}
	})
}

// ReadAll implements eventsource.Store. The filter is applied as the log is read.
func (s *Store) ReadAll(ctx context.Context, from eventsource.Position, opts eventsource.ReadAllOptions) iter.Seq2[eventsource.Event, error] {
	return eventsource.Pages(ctx, "redisstore: read all", opts.Limit, s.cfg.PageSize, func() eventsource.PageFunc {
		major, seq := from.Parts()
		return func(n int) ([]eventsource.Event, bool, error) {
			if s.closed.Load() {
				return nil, true, eventsource.ErrClosed
			}
			if major != 0 {
				return nil, true, fmt.Errorf("%w: position %v was not made by a redisstore", eventsource.ErrInvalidEvent, from)
			}
			var page []eventsource.Event
			for len(page) == 0 {
				start := "-"
				if seq > 0 {
					start = "(0-" + strconv.FormatUint(seq, 10)
				}
				msgs, err := s.rdb.XRangeN(ctx, s.allKey(), start, "+", int64(n)).Result()
				if err != nil {
					return nil, true, err
				}
				for _, m := range msgs {
					e, err := eventOf(m.ID, m.Values)
					if err != nil {
						return page, true, err
					}
					_, seq = e.Position.Parts()
					if opts.Filter.Match(e) {
						page = append(page, e)
					}
				}
				if len(msgs) < n {
					return page, true, nil
				}
			}
			return page, false, nil
		}
	})
}

// parseEntry turns one entry of a script's reply ({id, {field, value...}}) into an event.
func parseEntry(r any) (eventsource.Event, error) {
	pair, ok := r.([]any)
	if !ok || len(pair) != 2 {
		return eventsource.Event{}, fmt.Errorf("malformed log entry %v", r)
	}
	id, _ := pair[0].(string)
	flat, _ := pair[1].([]any)
	values := make(map[string]any, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		values[k] = flat[i+1]
	}
	return eventOf(id, values)
}

// eventOf makes an event of a global log entry.
func eventOf(entryID string, v map[string]any) (eventsource.Event, error) {
	get := func(k string) string { s, _ := v[k].(string); return s }
	seq, err := strconv.ParseUint(strings.TrimPrefix(entryID, "0-"), 10, 64)
	if err != nil {
		return eventsource.Event{}, fmt.Errorf("malformed log entry ID %q", entryID)
	}
	version, err := strconv.ParseInt(get("v"), 10, 64)
	if err != nil {
		return eventsource.Event{}, fmt.Errorf("log entry %s: malformed version %q", entryID, get("v"))
	}
	sec, _ := strconv.ParseInt(get("sec"), 10, 64)
	us, _ := strconv.ParseInt(get("us"), 10, 64)
	e := eventsource.Event{
		ID: get("i"), Stream: get("s"), Type: get("t"), Version: version,
		Position: eventsource.NewPosition(0, seq), Data: []byte(get("d")), Time: time.Unix(sec, us*1000),
	}
	if m := get("m"); m != "" {
		if err := json.Unmarshal([]byte(m), &e.Metadata); err != nil {
			return e, fmt.Errorf("event %q: metadata: %w", e.ID, err)
		}
	}
	return e, nil
}

// Close implements eventsource.Store. It does not close the client given to New.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.watchMu.Lock() // so that Changed starts no watcher after this
		s.closed.Store(true)
		s.watchMu.Unlock()
		s.stopWatch()
		s.watchers.Wait()
		s.watchMu.Lock()
		s.wake()
		s.watchMu.Unlock()
	})
	return nil
}

// LoadCheckpoint implements eventsource.CheckpointStore on the store's checkpoints hash.
func (s *Store) LoadCheckpoint(ctx context.Context, name string) (eventsource.Position, error) {
	v, err := s.rdb.HGet(ctx, s.checkpointsKey(), name).Result()
	if errors.Is(err, redis.Nil) {
		return eventsource.Position{}, nil
	}
	if err != nil {
		return eventsource.Position{}, fmt.Errorf("redisstore: load checkpoint %q: %w", name, err)
	}
	pos, err := eventsource.ParsePosition(v)
	if err != nil {
		return eventsource.Position{}, fmt.Errorf("redisstore: load checkpoint %q: %w", name, err)
	}
	return pos, nil
}

// SaveCheckpoint implements eventsource.CheckpointStore.
func (s *Store) SaveCheckpoint(ctx context.Context, name string, pos eventsource.Position) error {
	if err := s.rdb.HSet(ctx, s.checkpointsKey(), name, pos.String()).Err(); err != nil {
		return fmt.Errorf("redisstore: save checkpoint %q: %w", name, err)
	}
	return nil
}

// Client returns the client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Prefix returns the store's key prefix (its hash tag).
func (s *Store) Prefix() string { return s.cfg.Prefix }
