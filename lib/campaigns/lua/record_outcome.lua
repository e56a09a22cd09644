-- Records what happened to a sent mail (delivered, opened, clicked, bounced, complained,
-- unsubscribed) and marks it on the contact's campaign record the first time.
-- An open or click within machineWindowMs of the send is a scanner's, whoever reports it.
-- Guarded (replay_guard.lua): a resend after a lost reply would log the event again and count a
-- machine open or click, or a bounce without a send record, in the campaign's totals again.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- KEYS[3] the campaign's totals in the contact's shard (Keys.campaignTotals; unused without a campaign)
-- KEYS[4] replay guard of the call (replay_guard.lua), in the contact's shard
-- ARGV[1] JSON {id, now, ts, kind, campaignId ('' when unknown), field, onlyFirst, name, props,
--         machine, machineWindowMs, activity, source, chain, limits,
--         count {day, ttlMs, fields, journeyField}|false}: the counters of a first outcome, and the
--         journey counter's field without its id (the send record names the journey),
--         totals {first, machine|false, rejected}|false: the campaign total a first outcome
--         counts in, the one a machine open or click counts in, and whether a bounce counts
--         without a send record (the SMTP server refused the recipient)
-- Returns JSON {missing} | {first, eventId, machine}.
--- @include "contact_keys"
--- @include "events"
--- @include "analytics"
--- @include "replay_guard"
local base, shard, guard = KEYS[1], KEYS[2], KEYS[4]
local replayed = replayed_answer(shard, guard)
if replayed then return replayed end
local r = cjson.decode(ARGV[1])
-- Nothing written: no mark either.
if redis.call('EXISTS', base) == 0 then return cjson.encode({ missing = true }) end

local rec
if r.campaignId ~= '' then
  local raw = redis.call('HGET', base .. SUFFIX.campaigns, r.campaignId)
  if raw then rec = cjson.decode(raw) end
end

local machine = r.machine
local props = r.props
if not machine and rec and rec.sentAt and r.machineWindowMs > 0 and (r.kind == 'opened' or r.kind == 'clicked')
  and r.ts - rec.sentAt < r.machineWindowMs then
  machine = true
  local p = cjson.decode(props)
  p.machine = true
  props = cjson.encode(p)
end

local first = false
if rec and not machine and r.field ~= '' and rec[r.field] == nil then
  rec[r.field] = r.ts
  redis.call('HSET', base .. SUFFIX.campaigns, r.campaignId, cjson.encode(rec))
  first = true
end
-- The first person open / click of a send says so, for workflows that react to it once.
if first and r.count then
  local fields = r.count.fields
  if rec.journey then fields[#fields + 1] = r.count.journeyField .. rec.journey end
  count_day(shard, r.count, fields, 1)
end
-- The campaign's totals, with the contact's record (no kill in between loses a count).
if r.totals then
  local total = (machine and r.totals.machine) or ((first or r.totals.rejected) and r.totals.first)
  if total then redis.call('HINCRBY', KEYS[3], total, 1) end
end
if first then
  local p = cjson.decode(props)
  p.first = true
  props = cjson.encode(p)
end
-- Provider retries and repeated unsubscribes of a known send log nothing new.
if r.onlyFirst and rec and not first then return guarded_answer(shard, guard, cjson.encode({ first = false, machine = machine })) end

local eid = record(base, shard, r.id, r.now, { name = r.name, ts = r.ts, props = props, source = r.source, chain = r.chain }, r.limits)
if r.activity and not machine then touch_activity(base, shard, r.id, r.ts) end
redis.call('HSET', base, 'lastEventAt', r.now)
return guarded_answer(shard, guard, cjson.encode({ first = first, eventId = eid, machine = machine }))
