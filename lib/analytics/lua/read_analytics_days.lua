-- Reads a shard's analytics counters of consecutive UTC days for a report (lib/analytics): whole
-- day hashes, or only the named fields. One call per shard and batch of days, rather than a command
-- per day hash: what a long report costs is mostly the client handling each command.
-- KEYS[1] shard prefix
-- KEYS[2] the shard's pin (Keys.shardScriptKeys): never a key; with the prefix, Redis answers TRYAGAIN while the shard's slot moves
-- ARGV[1] first day (days since the epoch)
-- ARGV[2] number of days
-- ARGV[3...] fields to read (HMGET); none: every field (HGETALL)
-- Returns per day: field, value, ... (HGETALL), or the values in the order of ARGV[3...] (HMGET).
--- @include "contact_keys"
local first, days = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for d = 0, days - 1 do
  local key = KEYS[1] .. SHARD_KEY.analytics .. (first + d)
  if #ARGV > 2 then
    out[d + 1] = redis.call('HMGET', key, unpack(ARGV, 3))
  else
    out[d + 1] = redis.call('HGETALL', key)
  end
end
return out
