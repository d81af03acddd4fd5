package redisstore

import "github.com/redis/go-redis/v9"

// appendScript appends events to a stream in one atomic step.
// KEYS: 1 the global log (a Redis stream, entry IDs 0-<seq>), 2 the stream's list of
// sequence numbers (version v at index v-1), 3 the hash of event IDs to sequence numbers,
// 4 the sequence counter.
// ARGV: 1 stream name, 2 expected kind (any, new, exists, exact), 3 expected version,
// 4 number of events n, then n times: ID, type, data, metadata (JSON or "").
// Returns {"ok", version, seq} | {"retry", version, seq} | {"conflict", actual} |
// {"dup", id, stream, version}.
var appendScript = redis.NewScript(`
local all, list, ids, counter = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local stream, kind, exp, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local function allows(v)
  if kind == 'new' then return v == 0 end
  if kind == 'exists' then return v > 0 end
  if kind == 'exact' then return v == exp end
  return true
end
local function field(entry, name)
  local f = entry[2]
  for i = 1, #f, 2 do if f[i] == name then return f[i+1] end end
  return nil
end
-- A retry of events already stored, right where this append would have put them?
local firstSeq = redis.call('HGET', ids, ARGV[5])
if firstSeq then
  local e = redis.call('XRANGE', all, '0-' .. firstSeq, '0-' .. firstSeq)[1]
  local first = tonumber(field(e, 's') == stream and field(e, 'v') or -1)
  if first > 0 and allows(first - 1) then
    local seqs = redis.call('LRANGE', list, first - 1, first - 2 + n)
    local same = #seqs == n
    for i = 1, n do
      if same and redis.call('HGET', ids, ARGV[5 + (i-1)*4]) ~= seqs[i] then same = false end
    end
    if same then return {'retry', first - 1 + n, seqs[n]} end
  end
end
local actual = redis.call('LLEN', list)
if not allows(actual) then return {'conflict', actual} end
for i = 1, n do
  local s = redis.call('HGET', ids, ARGV[5 + (i-1)*4])
  if s then
    local e = redis.call('XRANGE', all, '0-' .. s, '0-' .. s)[1]
    return {'dup', ARGV[5 + (i-1)*4], field(e, 's'), field(e, 'v')}
  end
end
local t = redis.call('TIME')
local seq
for i = 1, n do
  local a = 5 + (i-1)*4
  seq = string.format('%d', redis.call('INCR', counter))
  actual = actual + 1
  redis.call('XADD', all, '0-' .. seq, 's', stream, 'v', string.format('%d', actual), 'i', ARGV[a], 't', ARGV[a+1], 'd', ARGV[a+2], 'm', ARGV[a+3], 'sec', t[1], 'us', t[2])
  redis.call('RPUSH', list, seq)
  redis.call('HSET', ids, ARGV[a], seq)
end
return {'ok', actual, seq}
`)

// readStreamScript returns up to ARGV[2] entries of a stream from version ARGV[1], forward
// or (ARGV[3] == "1") backward. KEYS: 1 the stream's list, 2 the global log.
var readStreamScript = redis.NewScript(`
local list, all = KEYS[1], KEYS[2]
local from, n, back = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local len = redis.call('LLEN', list)
local seqs, out = {}, {}
if back then
  if from < 1 or from > len then from = len end
  if from < 1 then return out end
  seqs = redis.call('LRANGE', list, math.max(0, from - n), from - 1)
  for i = #seqs, 1, -1 do out[#out+1] = redis.call('XRANGE', all, '0-' .. seqs[i], '0-' .. seqs[i])[1] end
else
  if from < 1 then from = 1 end
  seqs = redis.call('LRANGE', list, from - 1, from - 2 + n)
  for i = 1, #seqs do out[#out+1] = redis.call('XRANGE', all, '0-' .. seqs[i], '0-' .. seqs[i])[1] end
end
return out
`)

// renewScript extends a lease held with token ARGV[1] by ARGV[2] ms; releaseScript deletes
// it. Both do nothing (return 0) when another token holds it.
var (
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)
