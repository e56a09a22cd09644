-- Gives a reservation back when the mail did not leave (SMTP down, 4xx, render error).
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] campaign id
-- ARGV[2] reservation token
-- Returns 1 when the reservation was given back, else 0.
--- @include "contact_keys"
local base = KEYS[1]
local held = redis.call('HGET', base .. SUFFIX.reservations, ARGV[1])
if held and cjson.decode(held).token == ARGV[2] then
  redis.call('HDEL', base .. SUFFIX.reservations, ARGV[1])
  redis.call('ZREM', base .. SUFFIX.sends, ARGV[2])
  return 1
end
return 0
