-- KEYS: state hash, IDs sorted set, table's key set
-- ARGV: update ID, expected version, value, IDs to remember, key
-- Returns {outcome, version, value}: outcome 1 applied, 2 duplicate, 3 conflict.
local cur = redis.call('HMGET', KEYS[1], 'v', 'ver')
local ver = tonumber(cur[2] or '0')
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return {2, ver, cur[1]}
end
if ver ~= tonumber(ARGV[2]) then
  return {3, ver, cur[1]}
end
ver = ver + 1
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'ver', ver)
redis.call('ZADD', KEYS[2], ver, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[4]) + 1))
redis.call('SADD', KEYS[3], ARGV[5])
return {1, ver, ARGV[3]}
