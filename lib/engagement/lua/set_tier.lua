-- Computes each contact's engagement tier from its last interaction and switches its tier tag
-- atomically: exactly one tier tag, and one $tier_changed {from, to} event per change (the tag
-- switch is part of it: Contact Trigger's tag added / removed modes match it too).
-- A batch script (each_item).
-- KEYS[1] shard prefix
-- KEYS[2] replay guard of the call (replay_guard.lua)
-- ARGV[1] JSON {now, tiers [{names [tier names, most engaged first], bounds [ms, ascending],
--         events [names] or []}, ...], source, limits}
-- ARGV[2] item count
-- ARGV[3...] per item: its argument count, encoded id (batch.lua), contact id, its tier settings (1-based
--         index into tiers), its chain (JSON)
-- Answers per item {tier, previous tier or false, 1 when it changed else 0, last interaction or false}.
--- @include "contact_keys"
--- @include "events"
--- @include "batch"
--- @include "replay_guard"
local shard, guard = KEYS[1], KEYS[2]
local replayed = replayed_answer(shard, guard)
if replayed then return replayed end
local r = cjson.decode(ARGV[1])
local tierTag = {}

local answers = each_item(function(base, args)
  local id, tiers, chain = args[1], r.tiers[tonumber(args[2])], args[3]
  for _, name in ipairs(tiers.names) do tierTag[name] = tierTag[name] or shard .. SHARD_KEY.index .. IX.tag .. name end
  local core = redis.call('HMGET', base, 'id', 'lastActivityAt', 'tier')
  if not core[1] then return redis.error_reply('NOT_FOUND contact does not exist') end
  -- Last interaction: the store's activity time, or the latest of the chosen events.
  local last = tonumber(core[2])
  if #tiers.events > 0 then
    last = nil
    for _, name in ipairs(tiers.events) do
      local _, _, t = parse_counter(redis.call('HGET', base, HP.counter .. name))
      if t and (last == nil or t > last) then last = t end
    end
  end

  local index = #tiers.names
  if last then
    index = 1
    for _, bound in ipairs(tiers.bounds) do
      if r.now - last >= bound then index = index + 1 end
    end
  end
  local tier = tiers.names[index]
  -- Exactly one tier tag, also after someone tagged or untagged a tier name by hand.
  for _, name in ipairs(tiers.names) do
    if name ~= tier and redis.call('HDEL', base, HP.tag .. name) == 1 then redis.call('SREM', tierTag[name], id) end
  end
  if redis.call('HSETNX', base, HP.tag .. tier, '') == 1 then redis.call('SADD', tierTag[tier], id) end

  local old = core[3]
  local answer = { tier, old or false, 0, last or false }
  if old == tier then return answer end
  answer[3] = 1
  redis.call('HSET', base, 'tier', tier, 'tierAt', r.now, 'updatedAt', r.now)
  record(base, shard, id, r.now,
    { name = '$tier_changed', ts = r.now, props = cjson.encode({ from = old or cjson.null, to = tier }), source = r.source, chain = chain }, r.limits)
  return answer
end)
return guarded_answer(shard, guard, answers)
