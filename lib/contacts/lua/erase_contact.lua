-- GDPR art. 17: removes every key of the contact, its index entries, its event-log entries and
-- its dead-lettered events. Nothing lists them on the contact: each is derived from what the core
-- hash holds (tags, stage, status, score models), from the contact's events index and dead
-- letters, and from the shard's lists of trigger schedules and Loop Guard scopes. The answers the
-- shard's replay guards keep are withheld (replay_guard.lua).
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] contact id
-- Returns {the e-mail it had ('' when none), 1}, or {the e-mail an erase of the last
-- REPLAY_GUARD.answerMs removed or '', 0} when the contact did not exist. Not guarded
-- (replay_guard.lua): the shard's guard answers are withheld here, and the address must be gone once
-- released. Instead the address waits in SUFFIX.erasedEmail, which its caller deletes once it has
-- released it (lib/contacts erase): a resend after a lost reply still answers the address, also one
-- a change gave the contact after its caller read it.
--- @include "contact_keys"
--- @include "events"
--- @include "replay_guard"
local base, shard, id = KEYS[1], KEYS[2], ARGV[1]
local flat = redis.call('HGETALL', base)
local events = base .. SUFFIX.events
-- A contact whose core hash is gone may still have keys left by a write that raced its erase.
if #flat == 0 and redis.call('EXISTS', events, base .. SUFFIX.deadLetters, base .. SUFFIX.campaigns) == 0 then
  return { redis.call('GET', base .. SUFFIX.erasedEmail) or '', 0 }
end
local ix = shard .. SHARD_KEY.index
-- The score model a core hash field belongs to, when it starts with the model field prefix.
local function model_of(key, prefix)
  if string.sub(key, 1, #prefix) == prefix then return string.sub(key, #prefix + 1) end
end
local email, models = false, {}
redis.call('ZREM', ix .. IX.all, id)
redis.call('ZREM', ix .. IX.active, id)
for i = 1, #flat, 2 do
  local key, value = flat[i], flat[i + 1]
  if key == 'email' then email = value
  elseif key == 'lifecycleStage' then redis.call('SREM', ix .. IX.stage .. value, id)
  elseif key == 'status' then redis.call('SREM', ix .. IX.status .. value, id)
  elseif string.sub(key, 1, #HP.tag) == HP.tag then redis.call('SREM', ix .. IX.tag .. string.sub(key, #HP.tag + 1), id)
  elseif string.sub(key, 1, #HP.topic) == HP.topic then redis.call('SREM', ix .. IX.topic .. string.sub(key, #HP.topic + 1), id)
  else
    local model = model_of(key, HP.score)
    if model then table.insert(models, model) end
    local graded, grade = model_of(key, HP.grade), value
    if graded then redis.call('SREM', ix .. IX.grade .. graded .. ':' .. grade, id) end
  end
end
for _, model in ipairs(models) do
  redis.call('ZREM', ix .. IX.score .. model, id)
  redis.call('ZREM', ix .. IX.scoreFloor .. model, id)
  redis.call('DEL', base .. SUFFIX.scoreAwards .. ':' .. model, base .. SUFFIX.scoreValues .. ':' .. model)
end
for _, due in ipairs(redis.call('SMEMBERS', shard .. SHARD_KEY.schedules)) do redis.call('ZREM', due, id) end
for _, scope in ipairs(redis.call('SMEMBERS', shard .. SHARD_KEY.loopScopes)) do
  redis.call('DEL', base .. SUFFIX.loopGuard .. ':' .. scope)
end

drop_events(base, shard, redis.call('ZRANGE', events, 0, -1))
local createdEvent = redis.call('HGET', base, 'createdEvent')
if createdEvent then redis.call('XDEL', shard .. SHARD_KEY.log, createdEvent) end
-- Its dead-lettered events ("<stream name part> <entry id>") and the log entries their replays wrote.
for _, dead in ipairs(redis.call('ZRANGE', base .. SUFFIX.deadLetters, 0, -1)) do
  local name, entry = string.match(dead, '^(%S+) (%S+)$')
  if name == DEAD_LETTER.replays then redis.call('XDEL', shard .. SHARD_KEY.log, entry)
  elseif name then redis.call('XDEL', shard .. SHARD_KEY.deadLetters .. name, entry) end
end
-- Message-ID lookup keys name the contact but are not its own keys (they are found by Message-ID).
for _, key in ipairs(redis.call('ZRANGE', base .. SUFFIX.messages, 0, -1)) do redis.call('DEL', key) end

local keys = { base }
for kind, suffix in pairs(SUFFIX) do
  if kind ~= 'scoreAwards' and kind ~= 'scoreValues' and kind ~= 'loopGuard' then table.insert(keys, base .. suffix) end
end
redis.call('DEL', unpack(keys))
-- The answers of the shard's recent write calls, kept for their resends, may hold its data.
withhold_replay_answers(shard)
if email then redis.call('SET', base .. SUFFIX.erasedEmail, email, 'PX', REPLAY_GUARD.answerMs) end
return { email or '', 1 }
