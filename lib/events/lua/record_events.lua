-- Records events of contacts (creating a contact when asked), each once per idempotency key.
-- A batch script (each_item): items are events of the shard's contacts, each contact's in order.
-- KEYS[1] shard prefix
-- KEYS[2] replay guard of the call (replay_guard.lua)
-- ARGV[1] JSON {now, limits}
-- ARGV[2] item count
-- ARGV[3...] per item: its argument count, the encoded id (batch.lua), then: the contact id, the event
--         name, its time (ms), its properties JSON, source, chain JSON, idempotency key or '', '1'
--         to create the contact when it does not exist else '0', '1' when the event is an
--         interaction (it moves last activity) else '0', and the JSON {day, ttlMs, fields} of the
--         analytics counters it adds to (once like the event) or ''
-- Answers per item {1 when a duplicate else 0, the event id or false, 1 when it created the
-- contact else 0}; NOT_FOUND when the contact does not exist and may not be created.
--- @include "contact_keys"
--- @include "contact"
--- @include "events"
--- @include "analytics"
--- @include "batch"
--- @include "replay_guard"
local shard, guard = KEYS[1], KEYS[2]
local replayed = replayed_answer(shard, guard)
if replayed then return replayed end
local r = cjson.decode(ARGV[1])
local now, lim = r.now, r.limits
-- The log's entries are counted once, at the end.
defer_log_trims()

local answers = each_item(function(base, args)
  local id, key, create = args[1], args[7], args[8] == '1'
  if not create and redis.call('EXISTS', base) == 0 then
    return redis.error_reply('NOT_FOUND contact does not exist')
  end

  if key ~= '' then
    local idem = base .. SUFFIX.idempotency
    redis.call('ZREMRANGEBYSCORE', idem, '-inf', '(' .. (now - lim.idempotencyMs))
    local seen, member = idempotency_seen(idem, key)
    if seen then return { 1 } end
    redis.call('ZADD', idem, now, member)
  end

  local ev = { name = args[2], ts = tonumber(args[3]), props = args[4], source = args[5], chain = args[6] }
  local created = create and ensure_contact(base, shard, id, now)
  if created then
    record_created(base, shard, id, { ts = now, props = '{}', source = ev.source, chain = ev.chain }, lim)
  end
  local eid = record(base, shard, id, now, ev, lim)
  if args[9] == '1' then touch_activity(base, shard, id, ev.ts) end
  redis.call('HSET', base, 'lastEventAt', now)
  if args[10] ~= '' then
    local count = cjson.decode(args[10])
    count_day(shard, count, count.fields, 1)
  end
  return { 0, eid, created and 1 or 0 }
end)

trim_deferred_log(shard, lim)
return guarded_answer(shard, guard, answers)
