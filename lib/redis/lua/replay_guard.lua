-- Replay guards of write script calls (lib/keys.ts SHARD_KEY_PARTS.replayGuards, REPLAY_GUARD_MS).
-- ioredis sends a call again when its connection dropped before the answer came, also when Redis
-- had run it (and kept its writes in the append-only file) before it crashed. Each call names a key
-- of its own (KEYS[last]: a random token in the shard's slot, ContactStore.runBatch): the script
-- looks for it before anything else, and a call that ran already answers what it answered then and
-- writes nothing; a first run does its work and keeps its answer there, in the same atomic call.
-- MessagePack keeps the answer as Redis returns it (an item's {err = ...} stays its error, false
-- stays nil) in about a byte more than its text. The shard lists its live guards
-- (SHARD_KEY.replayGuardList: token -> when it expires) for erase: an answer may hold a contact's
-- data, so erase withholds the answers kept in its shard (the guards stay, their answers go).
--- @include "contact_keys"

-- What a withheld guard keeps: no MessagePack value is empty.
local REPLAY_WITHHELD = ''

-- The answer of the call's run that came first, or nil when this is the first.
local function replayed_answer(guard)
  local kept = redis.call('GET', guard)
  if not kept then return nil end
  if kept == REPLAY_WITHHELD then
    return redis.error_reply('WITHHELD the call ran before its answer was lost; a contact of its shard was erased since, and its answer with it')
  end
  return cmsgpack.unpack(kept)
end

-- Keeps a first run's answer under the call's guard, lists the guard, and returns the answer.
local function guarded_answer(shard, guard, answer)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  redis.call('SET', guard, cmsgpack.pack(answer), 'PX', REPLAY_GUARD.ms)
  local list = shard .. SHARD_KEY.replayGuardList
  redis.call('ZREMRANGEBYSCORE', list, '-inf', now)
  redis.call('ZADD', list, now + REPLAY_GUARD.ms, string.sub(guard, #shard + #SHARD_KEY.replayGuards + 1))
  return answer
end

-- Drops the answers the shard's live guards keep; a resend still finds its guard and writes nothing.
local function withhold_replay_answers(shard)
  for _, token in ipairs(redis.call('ZRANGE', shard .. SHARD_KEY.replayGuardList, 0, -1)) do
    redis.call('SET', shard .. SHARD_KEY.replayGuards .. token, REPLAY_WITHHELD, 'XX', 'KEEPTTL')
  end
end
