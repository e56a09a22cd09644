-- GDPR art. 17: removes every key of the contact, its index entries, its event-log entries and
-- its dead-lettered events.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] contact id
-- Returns the e-mail it had, or false.
--- @include "contact_keys"
local base, shard, id = KEYS[1], KEYS[2], ARGV[1]
if redis.call('EXISTS', base) == 0 and redis.call('EXISTS', base .. SUFFIX.keys) == 0 then return false end
local email = redis.call('HGET', base, 'email')

local logIds = redis.call('ZRANGE', base .. SUFFIX.logEntries, 0, -1)
for i = 1, #logIds, 500 do
  redis.call('XDEL', shard .. ':log', unpack(logIds, i, math.min(i + 499, #logIds)))
end
-- Its dead-lettered events: "<stream name part> <entry id>".
for _, dead in ipairs(redis.call('ZRANGE', base .. SUFFIX.deadLetters, 0, -1)) do
  local name, id = string.match(dead, '^(%S+) (%S+)$')
  if name then redis.call('XDEL', shard .. ':dead:' .. name, id) end
end

for _, ix in ipairs(redis.call('SMEMBERS', base .. SUFFIX.indexes)) do
  local kind = redis.call('TYPE', ix).ok
  if kind == 'zset' then redis.call('ZREM', ix, id)
  elseif kind == 'set' then redis.call('SREM', ix, id)
  elseif kind == 'hash' then redis.call('HDEL', ix, id) end
end

-- Message-ID lookup keys name the contact but are not its own keys (they are found by Message-ID).
for _, key in ipairs(redis.call('ZRANGE', base .. SUFFIX.messages, 0, -1)) do redis.call('DEL', key) end
for _, key in ipairs(redis.call('SMEMBERS', base .. SUFFIX.keys)) do redis.call('DEL', key) end
redis.call('DEL', base, base .. SUFFIX.keys, base .. SUFFIX.indexes)
return email or false
