-- Records a send the SMTP server accepted (or a render-only message handed on).
-- Guarded (replay_guard.lua): a resend after a lost reply would log $email_sent again and count
-- the send on the contact's record again.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- KEYS[3] Message-ID lookup key (in the contact's shard)
-- KEYS[4] the campaign's totals in the contact's shard (Keys.campaignTotals)
-- KEYS[5] replay guard of the call (replay_guard.lua), in the contact's shard
-- ARGV[1] JSON {id, now, campaignId, token, messageId, transactional, source, chain, limits, messageTtlMs,
--         journey|false, count {day, ttlMs, fields}|false}
-- Returns the $email_sent event id.
--- @include "contact_keys"
--- @include "events"
--- @include "analytics"
--- @include "replay_guard"
local base, shard, guard = KEYS[1], KEYS[2], KEYS[5]
local replayed = replayed_answer(shard, guard)
if replayed then return replayed end
local r = cjson.decode(ARGV[1])
-- Each send has its own Message-ID: a confirm run again for it (another call, or a resend after
-- the guard's time) does not count it in the campaign's totals again.
local fresh = redis.call('EXISTS', KEYS[3]) == 0
local reservations = base .. SUFFIX.reservations
local held = redis.call('HGET', reservations, r.campaignId)
if held and cjson.decode(held).token == r.token then redis.call('HDEL', reservations, r.campaignId) end

local sendsKey = base .. SUFFIX.campaigns
local old = redis.call('HGET', sendsKey, r.campaignId)
local rec = old and cjson.decode(old) or {}
rec.sentAt = r.now
rec.messageId = r.messageId
rec.sends = (rec.sends or 0) + 1
if r.transactional then rec.transactional = true end
-- The journey (workflow) that sent it: its outcomes count for that journey too.
if r.journey then rec.journey = r.journey end
redis.call('HSET', sendsKey, r.campaignId, cjson.encode(rec))
if not r.transactional then
  redis.call('ZADD', base .. SUFFIX.sends, r.now, r.token)
end

-- Bounces and ESP events name the Message-ID: it finds the contact for a while. Registered in the
-- contact's messages zset (by expiry, pruned here), so erase deletes the keys still alive.
local messages = base .. SUFFIX.messages
redis.call('ZREMRANGEBYSCORE', messages, '-inf', r.now)
redis.call('SET', KEYS[3], cjson.encode({ c = r.id, k = r.campaignId }), 'PX', r.messageTtlMs)
redis.call('ZADD', messages, r.now + r.messageTtlMs, KEYS[3])

local props = cjson.encode({ campaignId = r.campaignId, messageId = r.messageId, transactional = r.transactional })
local eid = record(base, shard, r.id, r.now, { name = '$email_sent', ts = r.now, props = props, source = r.source, chain = r.chain }, r.limits)
redis.call('HSET', base, 'lastEventAt', r.now)
if fresh then
  -- Counted with the contact's record: a worker killed after this script loses no count.
  redis.call('HINCRBY', KEYS[4], 'sent', 1)
  redis.call('HSETNX', KEYS[4], 'firstSentAt', r.now)
  if r.now > (tonumber(redis.call('HGET', KEYS[4], 'lastSentAt')) or 0) then redis.call('HSET', KEYS[4], 'lastSentAt', r.now) end
  if r.count then count_day(shard, r.count, r.count.fields, 1) end
end
return guarded_answer(shard, guard, eid)
