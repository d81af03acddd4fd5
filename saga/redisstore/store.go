// Package redisstore keeps saga instances in Redis (through go-redis), for the saga
// orchestrator. Each instance is a hash; Create, Save and Claim are Lua scripts, so a save is
// an atomic compare-and-set on the instance's version and a claim never hands one instance
// to two workers.
//
// Keys, all under Config.Prefix (default "{saga}:", whose hash tag keeps every key in one
// slot of a Redis Cluster):
//
//	<prefix>i:<id>        hash: doc (the instance as JSON), v (version), st (state), def
//	                      (definition), lo and lu (lease owner and lease end in Unix µs)
//	<prefix>due:<def>     sorted set of the active instances of definition def by when they
//	                      may next be claimed
//	<prefix>all           sorted set of every ID (listing in ID order)
//	<prefix>state:<state> sorted set of the IDs in a state (listing by state)
package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/courier-go/courier"
	"github.com/courier-go/courier/saga"
)

// DefaultPrefix is Config.Prefix when it is empty.
const DefaultPrefix = "{saga}:"

// Config configures a Store. The zero Config selects the defaults.
type Config struct {
	// Prefix starts every key the store uses; "" means DefaultPrefix. Give each application
	// its own. On a Redis Cluster it must contain a hash tag ({...}).
	Prefix string
}

// Store is a saga.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: saga redisstore: nil client", courier.ErrInvalidConfig)
	}
	p := cfg.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	return &Store{rdb: rdb, prefix: p}, nil
}

// doc is what the hash's doc field holds: the instance without its version and lease, which
// the scripts keep in fields of their own.
type doc struct {
	Definition string
	State      saga.State
	Step       int
	Attempt    int
	Awaiting   bool
	Data       []byte
	Error      string
	WakeAt     time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func micros(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// dueScore is when inst may next be claimed, or "" when never.
func dueScore(inst saga.Instance) string {
	if !inst.State.Active() || inst.WakeAt.IsZero() {
		return ""
	}
	at := inst.WakeAt
	if inst.LeaseOwner != "" && inst.LeaseUntil.After(at) {
		at = inst.LeaseUntil
	}
	return micros(at)
}

func encode(inst saga.Instance) (string, error) {
	b, err := json.Marshal(doc{Definition: inst.Definition, State: inst.State, Step: inst.Step, Attempt: inst.Attempt,
		Awaiting: inst.Awaiting, Data: inst.Data, Error: inst.Error, WakeAt: inst.WakeAt.UTC(),
		CreatedAt: inst.CreatedAt.UTC(), UpdatedAt: inst.UpdatedAt.UTC()})
	return string(b), err
}

// decode builds an instance from the script's reply {id, doc, v, lo, lu}.
func decode(v any) (saga.Instance, error) {
	f, ok := v.([]any)
	if !ok || len(f) != 5 {
		return saga.Instance{}, fmt.Errorf("saga redisstore: unexpected reply %v", v)
	}
	s := func(i int) string { x, _ := f[i].(string); return x }
	var d doc
	if err := json.Unmarshal([]byte(s(1)), &d); err != nil {
		return saga.Instance{}, fmt.Errorf("saga redisstore: instance %q: %w", s(0), err)
	}
	inst := saga.Instance{ID: s(0), Definition: d.Definition, State: d.State, Step: d.Step, Attempt: d.Attempt,
		Awaiting: d.Awaiting, Data: d.Data, Error: d.Error, WakeAt: d.WakeAt, LeaseOwner: s(3),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	var err error
	if inst.Version, err = strconv.ParseInt(s(2), 10, 64); err != nil {
		return saga.Instance{}, fmt.Errorf("saga redisstore: instance %q: version %q: %w", inst.ID, s(2), err)
	}
	if lu := s(4); lu != "" {
		us, err := strconv.ParseInt(lu, 10, 64)
		if err != nil {
			return saga.Instance{}, fmt.Errorf("saga redisstore: instance %q: lease end %q: %w", inst.ID, lu, err)
		}
		inst.LeaseUntil = time.UnixMicro(us).UTC()
	}
	return inst, nil
}

// read returns {id, doc, v, lo, lu} for an instance key, or false.
const luaRead = `
local function read(key, id)
  local h = redis.call('HMGET', key, 'doc', 'v', 'lo', 'lu')
  if not h[1] then return false end
  return {id, h[1], h[2], h[3] or '', h[4] or ''}
end
`

// index moves id to the state set of st (from old) and sets or removes its entry in the due
// set of its definition.
const luaIndex = `
local function index(prefix, id, old, st, due, def)
  if old ~= st then
    if old then redis.call('ZREM', prefix .. 'state:' .. old, id) end
    redis.call('ZADD', prefix .. 'state:' .. st, 0, id)
  end
  local key = prefix .. 'due:' .. def
  if due == '' then redis.call('ZREM', key, id) else redis.call('ZADD', key, due, id) end
end
`

// KEYS: instance key. ARGV: prefix, id, doc, state, lease owner, lease end, due score, definition.
var createScript = redis.NewScript(luaRead + luaIndex + `
local existing = read(KEYS[1], ARGV[2])
if existing then return {0, existing} end
redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'v', 1, 'st', ARGV[4], 'lo', ARGV[5], 'lu', ARGV[6], 'def', ARGV[8])
redis.call('ZADD', ARGV[1] .. 'all', 0, ARGV[2])
index(ARGV[1], ARGV[2], false, ARGV[4], ARGV[7], ARGV[8])
return {1, read(KEYS[1], ARGV[2])}
`)

// KEYS: instance key. ARGV: prefix, id, expected version, doc, state, lease owner, lease end, due score, definition.
var saveScript = redis.NewScript(luaRead + luaIndex + `
local h = redis.call('HMGET', KEYS[1], 'v', 'st', 'def')
if not h[1] then return {-1, ''} end
if h[3] ~= ARGV[9] then return {-3, h[3]} end
if h[1] ~= ARGV[3] then return {-2, h[1]} end
redis.call('HSET', KEYS[1], 'doc', ARGV[4], 'v', tonumber(h[1]) + 1, 'st', ARGV[5], 'lo', ARGV[6], 'lu', ARGV[7])
index(ARGV[1], ARGV[2], h[2], ARGV[5], ARGV[8], ARGV[9])
return {1, read(KEYS[1], ARGV[2])}
`)

// KEYS: the "all" set (for routing). ARGV: prefix, now, owner, lease end, limit,
// definitions...: claims the due instances of the definitions, earliest first across them.
var claimScript = redis.NewScript(luaRead + `
local limit = tonumber(ARGV[5])
local due = {}
for i = 6, #ARGV do
  local r = redis.call('ZRANGEBYSCORE', ARGV[1] .. 'due:' .. ARGV[i], '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', 0, limit)
  for j = 1, #r, 2 do table.insert(due, {tonumber(r[j + 1]), r[j], ARGV[i]}) end
end
table.sort(due, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
local out = {}
for k = 1, math.min(limit, #due) do
  local id, key = due[k][2], ARGV[1] .. 'i:' .. due[k][2]
  redis.call('HSET', key, 'lo', ARGV[3], 'lu', ARGV[4])
  redis.call('HINCRBY', key, 'v', 1)
  redis.call('ZADD', ARGV[1] .. 'due:' .. due[k][3], ARGV[4], id)
  table.insert(out, read(key, id))
end
return out
`)

func (s *Store) key(id string) string { return s.prefix + "i:" + id }

func (s *Store) wrap(op, id string, err error) error {
	return fmt.Errorf("saga redisstore: %s %q: %w", op, id, err)
}

// Create implements saga.Store.
func (s *Store) Create(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	if err := saga.CheckInstance(inst); err != nil {
		return saga.Instance{}, err
	}
	d, err := encode(inst)
	if err != nil {
		return saga.Instance{}, s.wrap("create", inst.ID, err)
	}
	res, err := createScript.Run(ctx, s.rdb, []string{s.key(inst.ID)}, s.prefix, inst.ID, d, string(inst.State),
		inst.LeaseOwner, micros(inst.LeaseUntil), dueScore(inst), inst.Definition).Slice()
	if err != nil {
		return saga.Instance{}, s.wrap("create", inst.ID, err)
	}
	got, err := decode(res[1])
	if err != nil {
		return saga.Instance{}, err
	}
	if res[0].(int64) == 0 {
		return got, s.wrap("create", inst.ID, saga.ErrExists)
	}
	return got, nil
}

// Get implements saga.Store.
func (s *Store) Get(ctx context.Context, id string) (saga.Instance, error) {
	h, err := s.rdb.HMGet(ctx, s.key(id), hashFields...).Result()
	if err != nil {
		return saga.Instance{}, s.wrap("get", id, err)
	}
	if h[0] == nil {
		return saga.Instance{}, s.wrap("get", id, saga.ErrNotFound)
	}
	return fromHash(id, h)
}

// hashFields are the fields fromHash reads, in its order.
var hashFields = []string{"doc", "v", "lo", "lu"}

// fromHash decodes the hashFields of instance id.
func fromHash(id string, h []any) (saga.Instance, error) {
	f := []any{id}
	for _, v := range h {
		if v == nil {
			v = ""
		}
		f = append(f, v)
	}
	return decode(f)
}

// Save implements saga.Store.
func (s *Store) Save(ctx context.Context, inst saga.Instance) (saga.Instance, error) {
	if err := saga.CheckInstance(inst); err != nil {
		return saga.Instance{}, err
	}
	d, err := encode(inst)
	if err != nil {
		return saga.Instance{}, s.wrap("save", inst.ID, err)
	}
	res, err := saveScript.Run(ctx, s.rdb, []string{s.key(inst.ID)}, s.prefix, inst.ID, inst.Version, d, string(inst.State),
		inst.LeaseOwner, micros(inst.LeaseUntil), dueScore(inst), inst.Definition).Slice()
	if err != nil {
		return saga.Instance{}, s.wrap("save", inst.ID, err)
	}
	switch res[0].(int64) {
	case -1:
		return saga.Instance{}, s.wrap("save", inst.ID, saga.ErrNotFound)
	case -2:
		return saga.Instance{}, s.wrap("save", inst.ID, fmt.Errorf("at version %d (stored %v): %w", inst.Version, res[1], saga.ErrConflict))
	case -3:
		return saga.Instance{}, s.wrap("save", inst.ID, fmt.Errorf("its definition is %q, not %q; a saga never changes its definition", res[1], inst.Definition))
	}
	return decode(res[1])
}

// Claim implements saga.Store.
func (s *Store) Claim(ctx context.Context, c saga.ClaimRequest) ([]saga.Instance, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	args := []any{s.prefix, micros(c.Now), c.Owner, micros(c.Now.Add(c.Lease)), c.Limit}
	for _, d := range c.Definitions {
		args = append(args, d)
	}
	res, err := claimScript.Run(ctx, s.rdb, []string{s.prefix + "all"}, args...).Slice() // the key routes it to the prefix's slot
	if err != nil {
		return nil, fmt.Errorf("saga redisstore: claim: %w", err)
	}
	out := make([]saga.Instance, 0, len(res))
	for _, r := range res {
		inst, err := decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, inst)
	}
	return out, nil
}

// List implements saga.Store.
func (s *Store) List(ctx context.Context, q saga.Query) ([]saga.Instance, error) {
	set := s.prefix + "all"
	if q.State != "" {
		set = s.prefix + "state:" + string(q.State)
	}
	var out []saga.Instance
	after := q.AfterID
	const page = 256
	for {
		start := "-"
		if after != "" {
			start = "(" + after
		}
		ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: set, Start: start, Stop: "+", ByLex: true, Count: page}).Result()
		if err != nil {
			return nil, fmt.Errorf("saga redisstore: list: %w", err)
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.HMGet(ctx, s.key(id), hashFields...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("saga redisstore: list: %w", err)
		}
		for i, id := range ids {
			h := cmds[i].Val()
			if h[0] == nil {
				continue // deleted meanwhile
			}
			inst, err := fromHash(id, h)
			if err != nil {
				return nil, err
			}
			if q.Definition != "" && inst.Definition != q.Definition || q.State != "" && inst.State != q.State {
				continue
			}
			out = append(out, inst)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
		if len(ids) < page {
			return out, nil
		}
		after = ids[len(ids)-1]
	}
}

// KeyPattern returns the glob pattern (for SCAN MATCH) of every key the store uses, for tools
// that inspect or clean up.
func (s *Store) KeyPattern() string {
	var b strings.Builder
	for _, r := range s.prefix {
		if strings.ContainsRune(`\*?[]^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String() + "*"
}
