-- Aggregate counters of a shard per UTC day (lib/analytics): the fields are named by the caller
-- (journey and campaign ids, never a contact), so a report reads them without scanning contacts.
--- @include "contact_keys"

-- Adds n to each field of the shard's counters hash of day c.day, which expires c.ttlMs from now.
-- c = {day, ttlMs} as Analytics.counting builds it.
local function count_day(shard, c, fields, n)
  if #fields == 0 or n == 0 then return end
  local key = shard .. SHARD_KEY.analytics .. c.day
  for _, field in ipairs(fields) do redis.call('HINCRBY', key, field, n) end
  redis.call('PEXPIRE', key, c.ttlMs)
end
