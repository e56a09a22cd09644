-- Claims e-mail addresses for contacts. A fresh claim of another contact is never taken over: that
-- contact may be being written right now by a concurrent batch. A contact claiming again an address
-- it has claimed and not yet written refreshes the claim's time, so that no other contact takes it
-- over while this batch writes it.
-- A batch script of items that are not contacts (runBatch's width 2): e-mail addresses of the shard,
-- each address's in order.
-- KEYS[1] shard prefix: its e-mail index (hash e-mail -> contact id) and, at the index's key ..
--         ':at', when each claim not yet confirmed was made (server time, ms; settle_emails
--         deletes it once the contact is written)
-- KEYS[2] the shard's pin (Keys.shardScriptKeys): never a key; with the prefix, Redis answers TRYAGAIN while the shard's slot moves
-- ARGV[1] age (ms) after which a claim its contact does not hold may be taken over (the caller
--         checked), or '' to take none over
-- ARGV[2] item count
-- ARGV[3...] per item: the e-mail and the contact id
-- Answers per item the owner after the call: the id when claimed, another id on conflict.
--- @include "contact_keys"
--- @include "batch"
local index = KEYS[1] .. SHARD_KEY.index .. IX.email
local at = index .. ':at'
local staleMs = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Written as text once: redis.call formats a number argument with printf each time.
local now_text = string.format('%d', now)

-- Every item's owner read at once (one HMGET, not an HGET per item): stored[i] is item i's, false
-- when unclaimed.
local argv, start = batch_items()
local count = tonumber(ARGV[2])
local emails = {}
for i = 1, count do emails[i] = argv[start + 2 * i - 2] end
local stored = count > 0 and redis.call('HMGET', index, unpack(emails)) or {}
-- Claims are written once at the end (one HSET per hash, not per item), in item order; later items
-- see them here. A claim made by this call is now's (claimed: address -> contact id).
local claimed, owners, times = {}, {}, {}
-- Addresses already the item's contact's, whose claim time (if any) is refreshed. Claim times exist
-- only between a claim and its settling, so there are usually none to look at.
local own, any_times = {}, redis.call('EXISTS', at) == 1
local function claim(i, email, id)
  local owner = claimed[email]
  local fresh = owner ~= nil
  if not fresh then owner = stored[i] end
  if owner == id and any_times and not fresh then own[#own + 1] = email end
  if owner and owner ~= id then
    if not staleMs then return owner end
    -- No claim time: the claim was confirmed once its contact was written (the contact owns it).
    -- A claim of this call is fresh: never taken over.
    local since = fresh and now or tonumber(redis.call('HGET', at, email))
    if not since or now - since < staleMs then return owner end
  end
  if owner ~= id then
    claimed[email] = id
    owners[#owners + 1] = email
    owners[#owners + 1] = id
  end
  return id
end
local answers = {}
for i = 1, count do answers[i] = claim(i, emails[i], argv[start + 2 * i - 1]) end

-- The claim times, in item order too: settle_emails drops them in that order, each found first.
for k = 1, #owners, 2 do
  times[k] = owners[k]
  times[k + 1] = now_text
end
if #own > 0 then
  local held = redis.call('HMGET', at, unpack(own))
  for k, email in ipairs(own) do
    if held[k] then
      times[#times + 1] = email
      times[#times + 1] = now_text
    end
  end
end
if #owners > 0 then redis.call('HSET', index, unpack(owners)) end
if #times > 0 then redis.call('HSET', at, unpack(times)) end
return answers
