-- Aggregate counters of a shard per UTC day (lib/analytics): the fields are named by the caller
-- (journey and campaign ids, never a contact), so a report reads them without scanning contacts.
--- @include "contact_keys"

-- Adds n to counters of the shard's hash of day c.day, which expires c.ttlMs from now. A counter
-- `<subject>|<metric>|<id>` (lib/analytics counterField) is kept packed with the other metrics of
-- its subject and id: hash field `<subject>|<id>` -> `,<metric>:<count>,<metric>:<count>...`, so a
-- report reads one value per journey or campaign and day instead of one per metric (a metric never
-- holds `|`, `,` or `:`). c = {day, ttlMs} as counting() builds it.
local function count_day(shard, c, fields, n)
  if #fields == 0 or n == 0 then return end
  local key = shard .. SHARD_KEY.analytics .. c.day
  for _, field in ipairs(fields) do
    local subject, metric, id = string.match(field, '^([^|]*)|([^|]*)|(.*)$')
    local name = subject .. '|' .. id
    local packed = redis.call('HGET', key, name) or ''
    local from, to, count = string.find(packed, ',' .. (string.gsub(metric, '%p', '%%%0')) .. ':(%d+)')
    if from then
      packed = string.sub(packed, 1, from - 1) .. ',' .. metric .. ':' .. (tonumber(count) + n) .. string.sub(packed, to + 1)
    else
      packed = packed .. ',' .. metric .. ':' .. n
    end
    redis.call('HSET', key, name, packed)
  end
  redis.call('PEXPIRE', key, c.ttlMs)
end
