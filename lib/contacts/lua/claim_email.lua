-- Claims an e-mail address for a contact. A fresh claim of another contact is never taken over:
-- that contact may be being created right now by a concurrent batch.
-- KEYS[1] e-mail index (hash e-mail -> contact id); KEYS[1]..':at' holds when each claim not yet
--         confirmed was made (server time, ms; Contacts.change deletes it once the contact is written)
-- ARGV[1] e-mail
-- ARGV[2] contact id
-- ARGV[3] '1': take over a claim older than ARGV[4] whose contact does not exist (the caller checked)
-- ARGV[4] age (ms) after which a claim may be taken over
-- Returns the owner after the call: the id when claimed, another id on conflict.
local at = KEYS[1] .. ':at'
local owner = redis.call('HGET', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if owner and owner ~= ARGV[2] then
  if ARGV[3] ~= '1' then return owner end
  -- No claim time: the claim was confirmed once its contact was written (the contact owns it).
  local claimedAt = tonumber(redis.call('HGET', at, ARGV[1]))
  if not claimedAt or now - claimedAt < tonumber(ARGV[4]) then return owner end
end
if owner ~= ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HSET', at, ARGV[1], now)
end
return ARGV[2]
