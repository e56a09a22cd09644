-- Assigns contacts of one shard to a variant of an A/B test, once per contact and test: a contact
-- already assigned keeps the variant it has. A new assignment logs $experiment_assigned {test,
-- variant}, counts it in the shard's counters of the test and, with a goal, adds the test to the
-- contact's waiting list for that goal event (count_conversions counts the goal when it comes).
-- KEYS[1] shard prefix
-- KEYS[2] replay guard of the call (replay_guard.lua)
-- ARGV[1] JSON {test, goal, windowMs, now, source, limits}
-- ARGV[2] item count
-- ARGV[3...] per item: argument count, encoded id (batch.lua), then contact id, variant drawn, chain (JSON)
-- Answers per item {variant, assignedAt, 1 when new else 0}; NOT_FOUND for a missing contact.
--- @include "contact_keys"
--- @include "events"
--- @include "batch"
--- @include "replay_guard"
--- @include "experiments"
local shard, guard = KEYS[1], KEYS[2]
local replayed = replayed_answer(shard, guard)
if replayed then return replayed end
local s = cjson.decode(ARGV[1])
local field = HP.experiment .. s.test
local counts = experiment_counts(shard, s.test)

local answers = each_item(function(base, args)
  local id, variant, chain = args[1], args[2], args[3]
  local held = redis.call('HGET', base, field)
  if held then
    local kept, at = string.match(held, '^([^|]+)|(%d+)')
    return { kept, at, 0 }
  end
  if redis.call('EXISTS', base) == 0 then return { err = 'NOT_FOUND contact does not exist' } end
  redis.call('HSET', base, field, variant .. '|' .. s.now)
  local props = cjson.encode({ test = s.test, variant = variant })
  record(base, shard, id, s.now, { name = '$experiment_assigned', ts = s.now, props = props, source = s.source, chain = chain }, s.limits)
  redis.call('HSET', base, 'lastEventAt', s.now)
  redis.call('HINCRBY', counts, 'assigned:' .. variant, 1)
  redis.call('HSETNX', counts, 'startedAt', s.now)
  if s.goal ~= '' then
    local waits = goal_waits(redis.call('HGET', base, HP.goal .. s.goal), s.now)
    waits[#waits + 1] = { s.test, variant, s.now, s.now + s.windowMs }
    -- A contact waits for a goal in a bounded number of tests: the oldest waits give way.
    while #waits > s.maxWaits do table.remove(waits, 1) end
    write_goal_waits(base, s.goal, waits)
  end
  return { variant, tostring(s.now), 1 }
end)
return guarded_answer(shard, guard, answers)
