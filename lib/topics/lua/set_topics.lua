-- Sets a contact's topic subscriptions at once: per topic, the core hash field `topic:<name>`
-- ('1' subscribed, '0' unsubscribed; absent: never chose), the shard index set `ix:topic:<name>`
-- (the contacts subscribed) and one $topic_changed {topic, from, to} event per change.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] JSON {id, now, source, chain (JSON text), limits}
-- ARGV[2...] pairs: topic name, '1' or '0'
-- Returns the changes, flat: topic, from ('1', '0' or ''), to.
--- @include "contact_keys"
--- @include "events"
local base, shard = KEYS[1], KEYS[2]
local r = cjson.decode(ARGV[1])
if redis.call('EXISTS', base) == 0 then return redis.error_reply('NOT_FOUND contact does not exist') end

local words = { ['1'] = 'subscribed', ['0'] = 'unsubscribed' }
local changes = {}
for i = 2, #ARGV, 2 do
  local topic, to = ARGV[i], ARGV[i + 1]
  local from = redis.call('HGET', base, HP.topic .. topic) or ''
  if from ~= to then
    redis.call('HSET', base, HP.topic .. topic, to)
    local index = shard .. SHARD_KEY.index .. IX.topic .. topic
    if to == '1' then
      redis.call('SADD', index, r.id)
    else
      redis.call('SREM', index, r.id)
    end
    record(base, shard, r.id, r.now, { name = '$topic_changed', ts = r.now,
      props = cjson.encode({ topic = topic, from = words[from] or cjson.null, to = words[to] }),
      source = r.source, chain = r.chain }, r.limits)
    table.insert(changes, topic)
    table.insert(changes, from)
    table.insert(changes, to)
  end
end
if #changes > 0 then redis.call('HSET', base, 'updatedAt', r.now) end
return changes
