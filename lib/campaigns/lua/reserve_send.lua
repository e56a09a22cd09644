-- Checks, in order, whether a campaign may go to a contact now, and reserves the send atomically.
-- Not guarded (replay_guard.lua): a resend after a lost reply finds the reservation its first run
-- made under the call's token (new per call), and answers 'reserved' again, writing nothing.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] JSON {now, campaignId, token, attemptKey|false, transactional, allowResend, requireConsent, topic|false,
--         cap {max, windowMs}|false, window {inWindow, nextAt}|false, staleMs, busyRetryMs, retentionMs}
-- Returns JSON {result = 'reserved'} | {result = 'skip', reason} | {result = 'defer', reason, until}.
--- @include "contact_keys"
local base = KEYS[1]
local r = cjson.decode(ARGV[1])
local function skip(reason) return cjson.encode({ result = 'skip', reason = reason }) end
-- The campaign's reservation on the contact. One under this call's token is this call's: ioredis
-- sent it again after its reply was lost, and the first run reserved the send.
local reservations = base .. SUFFIX.reservations
local held = redis.call('HGET', reservations, r.campaignId)
local h = held and cjson.decode(held)
if h and h.token == r.token then return cjson.encode({ result = 'reserved' }) end

if redis.call('EXISTS', base) == 0 then return skip('no_contact') end
local email = redis.call('HGET', base, 'email')
if not email or email == '' then return skip('invalid_email') end

local status = redis.call('HGET', base, 'status')
if not r.transactional then
  if status == 'unsubscribed' or status == 'bounced' or status == 'complained' then return skip(status) end
  if r.requireConsent and status ~= 'subscribed' then return skip('no_consent') end
  if r.topic and redis.call('HGET', base, HP.topic .. r.topic) == '0' then return skip('topic_unsubscribed') end
end

-- A reservation older than staleMs belongs to an execution that died between reserve and confirm;
-- so does one with this attempt's key (the same event delivered again after its execution died).
local sends = base .. SUFFIX.sends
if h then
  local retried = r.attemptKey and h.key == r.attemptKey
  if not retried and r.now - h.at < r.staleMs then
    -- With Allow Resend, a send for another event is a mail of its own: it waits for this one to end.
    if r.allowResend and r.attemptKey and h.key then
      return cjson.encode({ result = 'defer', reason = 'send_in_progress', ['until'] = r.now + r.busyRetryMs })
    end
    return skip('send_in_progress')
  end
  redis.call('HDEL', reservations, r.campaignId)
  redis.call('ZREM', sends, h.token)
end
if not r.allowResend and redis.call('HEXISTS', base .. SUFFIX.campaigns, r.campaignId) == 1 then return skip('already_sent') end

redis.call('ZREMRANGEBYSCORE', sends, '-inf', '(' .. (r.now - r.retentionMs))
if r.cap and not r.transactional then
  local since = r.now - r.cap.windowMs
  local count = redis.call('ZCOUNT', sends, '(' .. since, '+inf')
  if count >= r.cap.max then
    -- The cap frees when enough of the sends in the window have aged out of it.
    local oldest = redis.call('ZRANGEBYSCORE', sends, '(' .. since, '+inf', 'WITHSCORES', 'LIMIT', count - r.cap.max, 1)
    return cjson.encode({ result = 'defer', reason = 'frequency_cap', ['until'] = tonumber(oldest[2]) + r.cap.windowMs })
  end
end
if r.window and not r.window.inWindow then
  return cjson.encode({ result = 'defer', reason = 'outside_send_window', ['until'] = r.window.nextAt })
end

redis.call('HSET', reservations, r.campaignId, cjson.encode({ token = r.token, at = r.now, key = r.attemptKey }))
if not r.transactional then
  redis.call('ZADD', sends, r.now, r.token)
end
return cjson.encode({ result = 'reserved' })
