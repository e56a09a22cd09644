-- Gives a reservation back when the mail did not leave (SMTP down, 4xx, render error).
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] campaign id
-- ARGV[2] reservation token
-- Returns 1 when the reservation was given back, else 0.
local base = KEYS[1]
local held = redis.call('HGET', base .. ':cmpr', ARGV[1])
if held and cjson.decode(held).token == ARGV[2] then
  redis.call('HDEL', base .. ':cmpr', ARGV[1])
  redis.call('ZREM', base .. ':snd', ARGV[2])
  return 1
end
return 0
