-- Computes a contact's engagement tier from its last interaction and switches its tier tag
-- atomically: exactly one tier tag, $tag_removed / $tag_added and $tier_changed events on change.
-- KEYS[1] contact base, KEYS[2] shard prefix. ARGV[1] JSON:
-- {id, now, names [tier names, most engaged first], bounds [ms, ascending], events [names] or [],
--  source, chain, limits}
local base, shard = KEYS[1], KEYS[2]
local r = cjson.decode(ARGV[1])
if redis.call('EXISTS', base) == 0 then return redis.error_reply('NOT_FOUND contact does not exist') end

-- Last interaction: the store's activity time, or the latest of the chosen events.
local last = nil
if #r.events == 0 then
  last = tonumber(redis.call('HGET', base, 'lastActivityAt'))
else
  for _, name in ipairs(r.events) do
    local t = tonumber(redis.call('HGET', base .. ':n', 'last:' .. name))
    if t and (last == nil or t > last) then last = t end
  end
end

local index = #r.names
if last then
  index = 1
  for _, bound in ipairs(r.bounds) do
    if r.now - last >= bound then index = index + 1 end
  end
end
local tier = r.names[index]

local function emit(name, props)
  record(base, shard, r.id, r.now,
    { name = name, ts = r.now, props = json_or_empty(props), source = r.source, chain = r.chain }, r.limits)
end

local tagsKey = base .. ':t'
for _, name in ipairs(r.names) do
  if name ~= tier and redis.call('SREM', tagsKey, name) == 1 then
    redis.call('SREM', shard .. ':ix:tag:' .. name, r.id)
    emit('$tag_removed', { tag = name })
  end
end
if redis.call('SADD', tagsKey, tier) == 1 then
  reg_key(base, tagsKey)
  redis.call('SADD', shard .. ':ix:tag:' .. tier, r.id)
  reg_index(base, shard .. ':ix:tag:' .. tier)
  emit('$tag_added', { tag = tier })
end

local old = redis.call('HGET', base, 'tier')
local changed = old ~= tier
if changed then
  redis.call('HSET', base, 'tier', tier, 'tierAt', r.now, 'updatedAt', r.now)
  emit('$tier_changed', { from = old or cjson.null, to = tier })
end
return cjson.encode({ tier = tier, from = old or false, changed = changed, last = last or false })
