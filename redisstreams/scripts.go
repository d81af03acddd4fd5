package redisstreams

import "github.com/redis/go-redis/v9"

// The consumer's ownership changes run as Lua scripts so that checking who owns an entry
// and claiming it is one atomic step: a plain XCLAIM would take an entry from whichever
// consumer holds it. Each script touches one stream (KEYS[1]), so it runs in Redis Cluster too.

// retryScript re-claims an entry this consumer owns before it is handled again, raising its
// delivery count by one. ARGV: group, consumer, entry ID. It returns the new delivery count,
// -1 when the entry is no longer pending with this consumer (another took it over, or it
// was acknowledged), or -2 when the entry was deleted (trimmed) from the stream.
var retryScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return -1 end
local n = p[1][4] + 1
local c = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'RETRYCOUNT', n, 'JUSTID')
if #c == 0 then return -2 end
return n
`)

// touchScript sets the idle time of the given entries that this consumer still owns to
// ARGV[3] milliseconds, keeping their delivery count. ARGV: group, consumer, idle ms, entry
// IDs... It returns how many entries it touched. The consumer uses it two ways:
//
//   - idle 0 refreshes the entries it is still handling or waiting to retry, so that no other
//     consumer's XAUTOCLAIM takes them over. Only entries it holds are refreshed: one pending
//     under its name without its knowing (the reply of an XREADGROUP lost when Redis crashed)
//     must go idle, so that the group delivers it again.
//   - a long idle time hands entries back to the group: the next XAUTOCLAIM of any live
//     consumer takes them, instead of waiting for ClaimIdle.
var touchScript = redis.NewScript(`
local n = 0
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'RETRYCOUNT', p[1][4], 'JUSTID')
    n = n + 1
  end
end
return n
`)

// claimScript takes over entries of the group idle for at least ARGV[3] milliseconds
// (XAUTOCLAIM, which raises their delivery count) and returns {next cursor, entries,
// delivery counts}. ARGV: group, consumer, min idle ms, start cursor, count.
var claimScript = redis.NewScript(`
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local entries, counts = {}, {}
for _, e in ipairs(r[2]) do
  if type(e) == 'table' then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    entries[#entries + 1] = e
    counts[#counts + 1] = (#p > 0) and p[1][4] or 1
  end
end
return {r[1], entries, counts}
`)

// forgetScript deletes the consumer ARGV[2] from group ARGV[1] if it has no pending entry
// left, so that consumer names do not pile up in the group; a consumer that still owns
// entries stays, as deleting it would drop them from the group. It returns 1 if deleted.
var forgetScript = redis.NewScript(`
local s = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #s > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
`)
