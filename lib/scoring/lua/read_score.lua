-- One consistent snapshot of a contact's awards and grade in a score model.
-- KEYS[1] contact base
-- KEYS[2] shard prefix (not read: declared so that Redis answers TRYAGAIN while the shard's slot
--         moves, as the script reads the contact's other keys)
-- ARGV[1] model
-- Returns {awards (ZRANGE WITHSCORES), award values (HGETALL), grade or false}, or false.
--- @include "contact_keys"
local base, model = KEYS[1], ARGV[1]
if redis.call('EXISTS', base) == 0 then return false end
return {
  redis.call('ZRANGE', base .. SUFFIX.scoreAwards .. ':' .. model, 0, -1, 'WITHSCORES'),
  redis.call('HGETALL', base .. SUFFIX.scoreValues .. ':' .. model),
  redis.call('HGET', base, HP.grade .. model) or false,
}
