-- Gives up on event-log entries of a trigger: copies each to the trigger's dead-letter stream of
-- the shard and acknowledges it, in one step (an entry is never in both, nor lost between them).
-- The copy is listed on its contact (SUFFIX.deadLetters), so erase deletes it. An entry no longer in the log
-- (its contact was erased) is only acknowledged. Guarded (replay_guard.lua): a resend after a lost
-- reply would copy each entry again (it stays in the log once acknowledged).
-- KEYS[1] shard prefix
-- KEYS[2] replay guard of the call (replay_guard.lua)
-- ARGV[1] consumer group (the trigger)
-- ARGV[2] the dead-letter stream's name part (Keys.deadLetterName)
-- ARGV[3] now (ms)
-- ARGV[4] entries kept per dead-letter stream (MAXLEN ~)
-- ARGV[5] why (the last error)
-- ARGV[6...] pairs: log entry id, attempts it had
-- Returns how many entries were copied.
--- @include "contact_keys"
--- @include "contact_base"
--- @include "replay_guard"
local shard, guard, group, name, now = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local replayed = replayed_answer(shard, guard)
if replayed then return replayed end
local log, dead = shard .. SHARD_KEY.log, shard .. SHARD_KEY.deadLetters .. ARGV[2]
local copied = 0
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local entry = redis.call('XRANGE', log, id, id)[1]
  if entry then
    -- The event's own fields; a replayed entry's marks give way to the original id.
    local fields, contact, original = {}, nil, id
    for k = 1, #entry[2], 2 do
      local field, value = entry[2][k], entry[2][k + 1]
      if field == 'ro' then original = value
      elseif field ~= 'rg' then
        fields[#fields + 1] = field
        fields[#fields + 1] = value
        if field == 'c' then contact = value end
      end
    end
    local deadId = redis.call('XADD', dead, 'MAXLEN', '~', ARGV[4], '*', 'o', original, 'a', ARGV[i + 1], 'r', ARGV[5], 'd', now, unpack(fields))
    if contact then
      local base = contact_base(shard, contact)
      redis.call('ZADD', base .. SUFFIX.deadLetters, now, name .. ' ' .. deadId)
    end
    copied = copied + 1
  end
  redis.call('XACK', log, group, id)
end
return guarded_answer(shard, guard, copied)
