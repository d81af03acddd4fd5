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

// releaseScript hands entries this consumer owns back to its group: their idle time is set
// to ARGV[3] milliseconds, so any live consumer's next XAUTOCLAIM takes them, and their
// delivery count is kept. ARGV: group, consumer, idle ms, entry IDs... It returns how many
// entries it released.
var releaseScript = redis.NewScript(`
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

// refreshScript resets the idle time of the entries this consumer owns that have been idle
// for at least ARGV[3] milliseconds, so that no other consumer's XAUTOCLAIM takes an entry
// this one is still handling or waiting to retry. Delivery counts are kept (JUSTID).
// ARGV: group, consumer, min idle ms. It returns how many entries it refreshed.
var refreshScript = redis.NewScript(`
local start, n = '-', 0
while true do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], start, '+', 100, ARGV[2])
  if #p == 0 then break end
  local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
  for i, e in ipairs(p) do args[#args + 1] = e[1] end
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
  n = n + #p
  if #p < 100 then break end
  start = '(' .. p[#p][1]
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
