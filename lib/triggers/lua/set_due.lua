-- Sets (or clears) a contact's next fire time in a trigger schedule, optionally recording the
-- occurrence that fired (fire-once marker) and counting, when the marker is new, the contacts the
-- occurrence brought into its journey (lib/analytics): a repeated completion (a retried execution,
-- two n8n mains past one lease) finds the marker set and counts nothing. Erased contacts are only
-- removed.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] schedule key
-- ARGV[2] contact id
-- ARGV[3] marker field
-- ARGV[4] marker value ('' = none)
-- ARGV[5] next fire time ('' = remove from the schedule)
-- ARGV[6] JSON {day, ttlMs, fields}: the journey counters to add 1 to when the marker is new ('' = none)
-- Returns 0 when the contact does not exist, else 1.
--- @include "contact_keys"
--- @include "analytics"
local base, shard = KEYS[1], KEYS[2]
local due, id, field, marker, nextAt = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', base) == 0 then
  redis.call('ZREM', due, id)
  return 0
end
if marker ~= '' then
  local marks = base .. SUFFIX.triggerMarks
  local fresh = redis.call('HGET', marks, field) ~= marker
  redis.call('HSET', marks, field, marker)
  if fresh and ARGV[6] ~= '' then
    local c = cjson.decode(ARGV[6])
    count_day(shard, c, c.fields, 1)
  end
end
if nextAt == '' then
  redis.call('ZREM', due, id)
else
  redis.call('ZADD', due, nextAt, id)
  -- The shard's list of schedules lets erase take the contact out of every one.
  redis.call('SADD', shard .. SHARD_KEY.schedules, due)
end
return 1
