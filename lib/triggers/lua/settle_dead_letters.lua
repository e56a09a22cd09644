-- Replays or purges dead letters of a trigger in one shard. Replay puts each back into the event
-- log marked for that trigger only (rg: every other trigger skips it; ro: its original event id)
-- and removes it from the dead letters, in one step.
-- KEYS[1] shard prefix
-- KEYS[2] the shard's pin (Keys.shardScriptKeys): never a key; with the prefix, Redis answers TRYAGAIN while the shard's slot moves
-- ARGV[1] consumer group (the trigger)
-- ARGV[2] the dead-letter stream's name part (Keys.deadLetterName)
-- ARGV[3] 'replay' or 'purge'
-- ARGV[4] the event log's MAXLEN ~
-- ARGV[5...] dead-letter entry ids
-- Returns how many were replayed or purged.
--- @include "contact_keys"
--- @include "contact_base"
local shard, group, name, replay = KEYS[1], ARGV[1], ARGV[2], ARGV[3] == 'replay'
local log, dead = shard .. SHARD_KEY.log, shard .. SHARD_KEY.deadLetters .. ARGV[2]
local done = 0
for i = 5, #ARGV do
  local entry = redis.call('XRANGE', dead, ARGV[i], ARGV[i])[1]
  if entry then
    local fields, contact, original = {}, nil, nil
    for k = 1, #entry[2], 2 do
      local field, value = entry[2][k], entry[2][k + 1]
      if field == 'o' then original = value
      elseif field ~= 'a' and field ~= 'r' and field ~= 'd' then
        fields[#fields + 1] = field
        fields[#fields + 1] = value
        if field == 'c' then contact = value end
      end
    end
    local base = contact and contact_base(shard, contact)
    if replay then
      fields[#fields + 1] = 'rg'
      fields[#fields + 1] = group
      fields[#fields + 1] = 'ro'
      fields[#fields + 1] = original or entry[1]
      local id = redis.call('XADD', log, 'MAXLEN', '~', ARGV[4], '*', unpack(fields))
      -- Listed with the contact's dead letters, so erase deletes it.
      if base then redis.call('ZADD', base .. SUFFIX.deadLetters, tonumber(string.match(id, '^(%d+)')), DEAD_LETTER.replays .. ' ' .. id) end
    end
    redis.call('XDEL', dead, entry[1])
    if base then redis.call('ZREM', base .. SUFFIX.deadLetters, name .. ' ' .. entry[1]) end
    done = done + 1
  end
end
return done
