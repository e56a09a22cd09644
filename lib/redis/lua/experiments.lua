-- A/B tests (lib/experiments): a contact's variant per test (core hash HP.experiment .. test), the
-- tests waiting for a goal event (core hash HP.goal .. goal: one line per test, "test TAB variant
-- TAB from TAB until"), and per-shard counters (shard .. SHARD_KEY.experiments .. test: fields
-- "assigned:<variant>", "converted:<variant>").
--- @include "contact_keys"

local function experiment_counts(shard, test)
  return shard .. SHARD_KEY.experiments .. test
end

-- The lines of a goal's waiting list that are still open at `now`, as {test, variant, from, until}.
local function goal_waits(waiting, now)
  local open = {}
  for test, variant, from, till in string.gmatch(waiting or '', '([^\t\n]+)\t([^\t\n]+)\t(%d+)\t(%d+)') do
    if tonumber(till) >= now then open[#open + 1] = { test, variant, tonumber(from), tonumber(till) } end
  end
  return open
end

local function write_goal_waits(base, goal, waits)
  if #waits == 0 then
    redis.call('HDEL', base, HP.goal .. goal)
    return
  end
  local lines = {}
  for i, w in ipairs(waits) do lines[i] = table.concat({ w[1], w[2], w[3], w[4] }, '\t') end
  redis.call('HSET', base, HP.goal .. goal, table.concat(lines, '\n'))
end

-- A goal event at `ts`: a conversion for each test that assigned the contact at most its window
-- before (once per contact and test: the wait ends). Called by record() only for contacts with a
-- waiting list for this event name.
local function count_conversions(base, shard, goal, ts, now, waiting)
  local left = {}
  ts = tonumber(ts)
  for _, w in ipairs(goal_waits(waiting, tonumber(now))) do
    if ts >= w[3] and ts <= w[4] then
      redis.call('HINCRBY', experiment_counts(shard, w[1]), 'converted:' .. w[2], 1)
      redis.call('HSET', base, HP.experiment .. w[1], w[2] .. '|' .. w[3] .. '|' .. ts)
    else
      left[#left + 1] = w
    end
  end
  write_goal_waits(base, goal, left)
end
