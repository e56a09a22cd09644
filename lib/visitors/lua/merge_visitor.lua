-- Merges the history of an identified visitor into its contact in one step. Each event is recorded
-- as record_events records one (the shard's log, which the Contact Triggers read, the events index
-- and counter that segments and score rules read), once per event key: a repeated merge, or an
-- event both merged and sent again, is recorded once. The visitor is listed on the contact, so
-- that erase finds it.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] JSON {id, now, visitor, source, chain, events [{key, name, ts, props (JSON text)}], limits}
-- Returns the number of events merged; NOT_FOUND when the contact does not exist.
--- @include "contact_keys"
--- @include "events"
local base, shard = KEYS[1], KEYS[2]
local r = cjson.decode(ARGV[1])
local lim = r.limits
if redis.call('EXISTS', base) == 0 then
  return redis.error_reply('NOT_FOUND contact does not exist')
end
local idem = base .. SUFFIX.idempotency
redis.call('ZREMRANGEBYSCORE', idem, '-inf', '(' .. (r.now - lim.idempotencyMs))
local merged = 0
for _, e in ipairs(r.events) do
  local seen, member = idempotency_seen(idem, e.key)
  if not seen then
    redis.call('ZADD', idem, r.now, member)
    record(base, shard, r.id, r.now, { name = e.name, ts = e.ts, props = e.props, source = r.source, chain = r.chain }, lim)
    touch_activity(base, shard, r.id, e.ts)
    merged = merged + 1
  end
end
redis.call('ZADD', base .. SUFFIX.visitors, r.now, r.visitor)
if merged > 0 then redis.call('HSET', base, 'lastEventAt', r.now) end
return merged
