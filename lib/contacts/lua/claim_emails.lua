-- Claims e-mail addresses for contacts. A fresh claim of another contact is never taken over: that
-- contact may be being created right now by a concurrent batch.
-- A batch script (each_item): items are e-mail addresses of the shard, each address's in order.
-- KEYS[1] shard prefix: its e-mail index (hash e-mail -> contact id) and, at the index's key ..
--         ':at', when each claim was made (server time, ms)
-- ARGV[1] age (ms) after which a claim may be taken over
-- ARGV[2] item count
-- ARGV[3...] per item: its argument count, a base key (unused), then: the e-mail, the contact id,
--         '1' to take over a claim older than ARGV[1] whose contact does not exist (the caller
--         checked), else '0'
-- Answers per item the owner after the call: the id when claimed, another id on conflict.
--- @include "contact_keys"
--- @include "batch"
local index = KEYS[1] .. SHARD_KEY.index .. 'email'
local at = index .. ':at'
local staleMs = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

return each_item(function(_, args)
  local email, id = args[1], args[2]
  local owner = redis.call('HGET', index, email)
  if owner and owner ~= id then
    if args[3] ~= '1' then return owner end
    local claimedAt = tonumber(redis.call('HGET', at, email))
    if claimedAt and now - claimedAt < staleMs then return owner end
  end
  if owner ~= id then
    redis.call('HSET', index, email, id)
    redis.call('HSET', at, email, now)
  end
  return id
end)
