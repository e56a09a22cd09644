-- Moves the contacts whose last activity passed the inactivity cut-off since the previous run from
-- the shard's activity index into the trigger's schedule. Cost: the contacts that crossed.
-- KEYS[1] schedule zset (in the shard)
-- KEYS[2] watermark: last activity time already handled (in the shard)
-- KEYS[3] shard prefix
-- ARGV[1] cut-off (now - inactivity)
-- ARGV[2] limit
-- ARGV[3] initial watermark
-- ARGV[4] inactivity (ms)
-- Returns how many contacts moved.
--- @include "contact_keys"
local due, wmKey, shard = KEYS[1], KEYS[2], KEYS[3]
local cutoff, limit, initial, span = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local wm = redis.call('GET', wmKey)
if not wm then
  -- First activation: remember where this trigger starts.
  wm = initial
  redis.call('SET', wmKey, wm)
end
if tonumber(wm) >= cutoff then return 0 end

local batch = redis.call('ZRANGEBYSCORE', shard .. SHARD_KEY.index .. IX.active, '(' .. wm, cutoff, 'WITHSCORES', 'LIMIT', 0, limit)
local newWm = cutoff
if #batch / 2 >= limit then
  -- Stop at a score boundary: take every contact of the last score, then resume after it.
  local last = batch[#batch]
  newWm = tonumber(last)
  local seen = {}
  for i = 1, #batch, 2 do seen[batch[i]] = true end
  local ties = redis.call('ZRANGEBYSCORE', shard .. SHARD_KEY.index .. IX.active, last, last, 'WITHSCORES')
  for i = 1, #ties, 2 do
    if not seen[ties[i]] then table.insert(batch, ties[i]); table.insert(batch, ties[i + 1]) end
  end
end
for i = 1, #batch, 2 do
  local id = batch[i]
  redis.call('ZADD', due, tonumber(batch[i + 1]) + span, id)
end
-- The shard's list of schedules lets erase take a contact out of every one.
if #batch > 0 then redis.call('SADD', shard .. SHARD_KEY.schedules, due) end
redis.call('SET', wmKey, newWm)
return #batch / 2
