-- Replay guards of write script calls (lib/keys.ts SHARD_KEY_PARTS.replayGuards, replayGuardList,
-- REPLAY_ANSWER_MS, REPLAY_GUARD_MS). ioredis sends a call again when its connection dropped before
-- the answer came, also when Redis had run it (and kept its writes in the append-only file) before
-- it crashed, and also after its caller stopped waiting. Each call names a key of its own
-- (KEYS[last]: a random token in the shard's slot, ContactStore.runBatch or .replayGuard): the
-- script looks for the call there before anything else, and a call that ran already writes
-- nothing. A first run does its work and, in the same atomic call, keeps two things:
-- - its answer, under the call's key for REPLAY_GUARD.answerMs: a resend then answers what the first
--   run answered. MessagePack keeps the answer as Redis returns it (an item's {err = ...} stays its
--   error, false stays nil) in about a byte more than its text. Only a caller still waiting reads
--   it, and none waits that long (lib/redis/connection.ts MAX_STORE_WAIT_MS);
-- - the mark that it ran, its token in the shard's list (SHARD_KEY.replayGuardList: token -> when
--   the mark expires, REPLAY_GUARD.ms after the run; pruned by score): a resend whose answer is gone
--   answers REPLAYED. About 122 bytes per call whatever it wrote, and no key of its own.
-- An answer may hold a contact's data, so erase withholds the answers still kept in its shard: those
-- of the marks recent enough to have one (the marks stay, the answers go).
--- @include "contact_keys"

-- What a withheld answer keeps: no MessagePack value is empty.
local REPLAY_WITHHELD = ''

-- The server's clock in ms.
local function replay_clock()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- The call's token: what follows the shard's guard prefix in its key.
local function replay_token(shard, guard)
  return string.sub(guard, #shard + #SHARD_KEY.replayGuards + 1)
end

-- The answer of the call's run that came first, an error reply when that run's answer is not kept
-- any more, or nil when this is the first run.
local function replayed_answer(shard, guard)
  local kept = redis.call('GET', guard)
  if kept == REPLAY_WITHHELD then
    return redis.error_reply('WITHHELD the call ran before its answer was lost; a contact of its shard was erased since, and its answer with it')
  end
  if kept then return cmsgpack.unpack(kept) end
  if redis.call('ZSCORE', shard .. SHARD_KEY.replayGuardList, replay_token(shard, guard)) then
    return redis.error_reply('REPLAYED the call ran already and wrote nothing again; its answer is kept only ' .. REPLAY_GUARD.answerMs / 1000 .. ' s')
  end
  return nil
end

-- Keeps a first run's answer under the call's key and marks the call run in the shard's list;
-- returns the answer.
local function guarded_answer(shard, guard, answer)
  local now = replay_clock()
  redis.call('SET', guard, cmsgpack.pack(answer), 'PX', REPLAY_GUARD.answerMs)
  local list = shard .. SHARD_KEY.replayGuardList
  redis.call('ZREMRANGEBYSCORE', list, '-inf', now)
  redis.call('ZADD', list, now + REPLAY_GUARD.ms, replay_token(shard, guard))
  return answer
end

-- Drops the answers still kept in the shard: those of the marks that expire more than
-- REPLAY_GUARD.ms - REPLAY_GUARD.answerMs from now (the calls of the last answerMs). A resend still
-- finds its mark and writes nothing.
local function withhold_replay_answers(shard)
  local recent = replay_clock() + REPLAY_GUARD.ms - REPLAY_GUARD.answerMs
  for _, token in ipairs(redis.call('ZRANGEBYSCORE', shard .. SHARD_KEY.replayGuardList, recent, '+inf')) do
    redis.call('SET', shard .. SHARD_KEY.replayGuards .. token, REPLAY_WITHHELD, 'XX', 'KEEPTTL')
  end
end
