-- A contact's core hash and its entry in the shard's index of all contacts.
--- @include "contact_keys"

-- Creates the contact's core hash when missing; returns true when it was created.
local function ensure_contact(base, shard, id, now)
  if redis.call('EXISTS', base) == 1 then return false end
  redis.call('HSET', base, 'id', id, 'createdAt', now, 'updatedAt', now)
  redis.call('ZADD', shard .. SHARD_KEY.index .. IX.all, now, id)
  return true
end
