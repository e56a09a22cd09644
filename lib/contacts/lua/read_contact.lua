-- One consistent snapshot of a contact: core hash, fields, tags, event counters.
-- KEYS[1] contact base
-- Returns {core, fields, tags, counters} (flat HGETALL lists, SMEMBERS), or false.
--- @include "contact_keys"
local base = KEYS[1]
if redis.call('EXISTS', base) == 0 then return false end
return {
  redis.call('HGETALL', base),
  redis.call('HGETALL', base .. SUFFIX.fields),
  redis.call('SMEMBERS', base .. SUFFIX.tags),
  redis.call('HGETALL', base .. SUFFIX.counters),
}
