-- Records one event of a contact (creating the contact when asked), once per idempotency key.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] JSON {id, now, name, ts, props, source, chain, idempotencyKey, create, activity, limits,
--         count {day, ttlMs, fields}|false: analytics counters the event adds to, once like the event}
-- Returns JSON {duplicate, eventId?, created?, createdEventId?}; NOT_FOUND when the contact does
-- not exist and create is false.
--- @include "contact_keys"
--- @include "contact"
--- @include "events"
--- @include "analytics"
local base, shard = KEYS[1], KEYS[2]
local r = cjson.decode(ARGV[1])
local lim = r.limits

if redis.call('EXISTS', base) == 0 and not r.create then
  return redis.error_reply('NOT_FOUND contact does not exist')
end

if r.idempotencyKey ~= '' then
  local idem = base .. SUFFIX.idempotency
  redis.call('ZREMRANGEBYSCORE', idem, '-inf', '(' .. (r.now - lim.idempotencyMs))
  local seen, member = idempotency_seen(idem, r.idempotencyKey)
  if seen then return cjson.encode({ duplicate = true }) end
  redis.call('ZADD', idem, r.now, member)
end

local created = ensure_contact(base, shard, r.id, r.now)
local ev = { name = r.name, ts = r.ts, props = r.props, source = r.source, chain = r.chain }
local createdId = nil
if created then
  createdId = record_created(base, shard, r.id, { ts = r.now, props = '{}', source = r.source, chain = r.chain }, lim)
end
local eid = record(base, shard, r.id, r.now, ev, lim)
if r.activity then touch_activity(base, shard, r.id, r.ts) end
redis.call('HSET', base, 'lastEventAt', r.now)
if r.count then count_day(shard, r.count, r.count.fields, 1) end
return cjson.encode({ duplicate = false, eventId = eid, created = created, createdEventId = createdId })
