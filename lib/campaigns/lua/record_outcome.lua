-- Records what happened to a sent mail (delivered, opened, clicked, bounced, complained,
-- unsubscribed) and marks it on the contact's campaign record the first time.
-- KEYS[1] contact base, KEYS[2] shard prefix. ARGV[1] JSON request:
-- {id, now, ts, campaignId ('' when unknown), field ('' for machine hits), onlyFirst, name, props,
--  activity, source, chain, limits}
-- Returns JSON {missing} | {first, eventId}.
local base, shard = KEYS[1], KEYS[2]
local r = cjson.decode(ARGV[1])
if redis.call('EXISTS', base) == 0 then return cjson.encode({ missing = true }) end

local first, known = false, false
if r.campaignId ~= '' then
  local raw = redis.call('HGET', base .. ':cmp', r.campaignId)
  if raw then
    known = true
    if r.field ~= '' then
      local rec = cjson.decode(raw)
      if rec[r.field] == nil then
        rec[r.field] = r.ts
        redis.call('HSET', base .. ':cmp', r.campaignId, cjson.encode(rec))
        first = true
      end
    end
  end
end
-- Provider retries and repeated unsubscribes of a known send log nothing new.
if r.onlyFirst and known and not first then return cjson.encode({ first = false }) end

local eid = record(base, shard, r.id, r.now, { name = r.name, ts = r.ts, props = r.props, source = r.source, chain = r.chain }, r.limits)
if r.activity then touch_activity(base, shard, r.id, r.ts) end
redis.call('HSET', base, 'lastEventAt', r.now)
return cjson.encode({ first = first, eventId = eid })
