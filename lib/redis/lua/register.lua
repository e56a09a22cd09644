-- Every key a contact owns and every index that holds it is registered on the contact, so erase
-- and export find them all. KEYS[1] of a script is a contact base or a shard prefix: every key
-- touched shares its hash tag.
--- @include "contact_keys"

local function reg_key(base, key)
  redis.call('SADD', base .. SUFFIX.keys, key)
end

local function reg_index(base, key)
  redis.call('SADD', base .. SUFFIX.indexes, key)
end
