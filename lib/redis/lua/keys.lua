-- Contact keys from a shard prefix and a contact id, as lib/keys.ts builds them.

-- Same encoding as lib/keys.ts encodeKeyPart.
local function contact_base(shard, id)
  local encoded = string.gsub(id, '[^%w%._@%+%-]', function(c) return string.format('%%%02X', string.byte(c)) end)
  return shard .. ':c:' .. encoded
end
