-- A contact's base key from its shard prefix and id, as lib/keys.ts Keys.contact builds it (the id
-- encoded as encodeKeyPart does).
--- @include "contact_keys"
local function contact_base(shard, id)
  local encoded = string.gsub(id, '[^%w%._@%+%-]', function(c) return string.format('%%%02X', string.byte(c)) end)
  return shard .. SHARD_KEY.contact .. encoded
end
