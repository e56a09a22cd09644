-- One Loop Guard check, atomic: rolling-window limit and cool-down, recording the entry when it passes.
-- Not guarded (replay_guard.lua): a resend after a lost reply finds the entry its first run wrote
-- (its member is unique per check), and answers that the check passed, as the first run did.
-- KEYS[1] the contact base, or the record of a custom key
-- KEYS[2] shard prefix
-- ARGV[1] scope (encoded)
-- ARGV[2] now (ms)
-- ARGV[3] window (ms)
-- ARGV[4] max entries in the window (0 = no limit)
-- ARGV[5] cool-down (ms, 0 = none)
-- ARGV[6] the entry's member (unique per check)
-- ARGV[7] '1' when KEYS[1] is a contact base, '0' for a custom key
-- Returns JSON {allowed, reason?, count, retryAt?}.
--- @include "contact_keys"
local base = KEYS[1]
local scope, now, windowMs, maxEntries, cooldownMs, member, isContact =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7] == '1'

local entries = base
if isContact then entries = base .. SUFFIX.loopGuard .. ':' .. scope end

-- Entries are kept for the longer of the window and the cool-down: a cool-down longer than the
-- window (or with no entry limit, window 0) needs the last entry after the window has dropped it.
redis.call('ZREMRANGEBYSCORE', entries, '-inf', now - math.max(windowMs, cooldownMs))
local windowStart = '(' .. (now - windowMs)
local count = redis.call('ZCOUNT', entries, windowStart, '+inf')

local refused
if cooldownMs > 0 then
  local last = redis.call('ZRANGE', entries, -1, -1, 'WITHSCORES')
  if last[2] and tonumber(last[2]) + cooldownMs > now then
    refused = { allowed = false, reason = 'cooldown', count = count, retryAt = tonumber(last[2]) + cooldownMs }
  end
end
if not refused and maxEntries > 0 and count >= maxEntries then
  local oldest = redis.call('ZRANGEBYSCORE', entries, windowStart, '+inf', 'WITHSCORES', 'LIMIT', 0, count - maxEntries + 1)
  refused = { allowed = false, reason = 'rateLimit', count = count, retryAt = tonumber(oldest[#oldest]) + windowMs }
end
-- A resend of a check that passed is refused by its own entry: it finds the entry (looked up on
-- the refusing paths alone) and answers that it passed, as the first run did.
if refused and redis.call('ZSCORE', entries, member) then return cjson.encode({ allowed = true, count = count }) end
if refused then return cjson.encode(refused) end

-- A resend that nothing refuses adds no entry (the member is there): its count is the first run's.
count = count + redis.call('ZADD', entries, now, member)
redis.call('PEXPIRE', entries, math.max(windowMs, cooldownMs))
-- The shard's list of scopes lets erase delete the contact's entries of every scope.
if isContact then redis.call('SADD', KEYS[2] .. SHARD_KEY.loopScopes, scope) end
return cjson.encode({ allowed = true, count = count })
