-- Upgrades contacts written in format 1 to format 2 in place (lib/keys.ts STORE_FORMAT), one
-- contact at a time and atomically; a contact in format 2 (or gone) is left alone, so running it
-- twice, or beside the nodes, is safe.
-- Format 1 kept beside the core hash: <base>:f (hash of fields), :t (set of tags), :n (hash
-- count:/first:/last:<name>), :e:<name> (zset log entry id -> event time), :h (zset of JSON
-- {id, name, ts, props, source}), :l (zset of log entry ids), :k and :x (registries of the
-- contact's keys and indexes).
-- A batch script (each_item).
-- KEYS[1] shard prefix
-- KEYS[2] the shard's pin (Keys.shardScriptKeys): never a key; with the prefix, Redis answers TRYAGAIN while the shard's slot moves
-- ARGV[1] JSON of format 1's suffixes (lib/migrate FORMAT_1_SUFFIXES): {fields, tags, counters,
--         times, history, logEntries, keys, indexes}
-- ARGV[2] item count
-- ARGV[3...] per item: its argument count (0) and encoded id (batch.lua)
-- Answers per item 1 when it upgraded the contact, else 0.
--- @include "contact_keys"
--- @include "events"
--- @include "batch"
local shard = KEYS[1]
local V1 = cjson.decode(ARGV[1])

return each_item(function(base)
  if redis.call('EXISTS', base .. V1.keys, base .. V1.indexes, base .. V1.fields, base .. V1.tags, base .. V1.counters) == 0 then
    return 0
  end
  local writes = {}
  local function set(key, value)
    writes[#writes + 1] = key
    writes[#writes + 1] = value
  end
  local flat = redis.call('HGETALL', base .. V1.fields)
  for i = 1, #flat, 2 do set(HP.field .. flat[i], flat[i + 1]) end
  for _, tag in ipairs(redis.call('SMEMBERS', base .. V1.tags)) do set(HP.tag .. tag, '') end

  -- Counters: one field per event name, "<count>|<first>|<last>".
  local counters, names = {}, {}
  flat = redis.call('HGETALL', base .. V1.counters)
  for i = 1, #flat, 2 do
    local kind, name = string.match(flat[i], '^(%a+):(.*)$')
    if kind then
      if not counters[name] then
        counters[name] = {}
        names[#names + 1] = name
      end
      counters[name][kind] = flat[i + 1]
    end
  end
  for _, name in ipairs(names) do
    local c = counters[name]
    local first = c.first or c.last or '0'
    set(HP.counter .. name, (c.count or '0') .. '|' .. first .. '|' .. (c.last or first))
  end

  -- Events: every event the contact's time indexes, history or log entries still name, once.
  local events = base .. SUFFIX.events
  local history = {}
  for _, entry in ipairs(redis.call('ZRANGE', base .. V1.history, 0, -1)) do
    local e = cjson.decode(entry)
    history[e.id] = e
  end
  local members, properties, seen = {}, {}, {}
  local function add(name, ts, eid, source, props)
    if seen[eid] then return end
    seen[eid] = true
    members[#members + 1] = 0
    members[#members + 1] = event_member(name, tonumber(ts), eid, source or '')
    if props and props ~= '' and props ~= '{}' then
      properties[#properties + 1] = eid
      properties[#properties + 1] = props
    end
  end
  local timeKeys = {}
  for _, name in ipairs(names) do
    local key = base .. V1.times .. name
    timeKeys[#timeKeys + 1] = key
    local times = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    for i = 1, #times, 2 do
      local h = history[times[i]]
      add(name, times[i + 1], times[i], h and h.source, h and h.props)
    end
  end
  for eid, h in pairs(history) do add(h.name, h.ts, eid, h.source, h.props) end
  -- Log entries neither kept (trimmed from the indexes, still in the log): erase must find them.
  for _, eid in ipairs(redis.call('ZRANGE', base .. V1.logEntries, 0, -1)) do
    if not seen[eid] then
      local entry = redis.call('XRANGE', shard .. SHARD_KEY.log, eid, eid)[1]
      if entry then
        local f = {}
        for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
        add(f.n, f.t, eid, f.s, f.p)
      end
    end
  end
  for i = 1, #members, 1000 do redis.call('ZADD', events, unpack(members, i, math.min(i + 999, #members))) end
  for i = 1, #properties, 1000 do
    redis.call('HSET', base .. SUFFIX.eventProperties, unpack(properties, i, math.min(i + 999, #properties)))
  end

  -- The shard's lists of schedules and Loop Guard scopes replace the contact's registries.
  for _, ix in ipairs(redis.call('SMEMBERS', base .. V1.indexes)) do
    if string.sub(ix, -4) == ':due' then redis.call('SADD', shard .. SHARD_KEY.schedules, ix) end
  end
  local loopGuard = base .. SUFFIX.loopGuard .. ':'
  for _, key in ipairs(redis.call('SMEMBERS', base .. V1.keys)) do
    if string.sub(key, 1, #loopGuard) == loopGuard then
      redis.call('SADD', shard .. SHARD_KEY.loopScopes, string.sub(key, #loopGuard + 1))
    end
  end

  if #writes > 0 then redis.call('HSET', base, unpack(writes)) end
  redis.call('DEL', base .. V1.fields, base .. V1.tags, base .. V1.counters, base .. V1.history,
    base .. V1.logEntries, base .. V1.keys, base .. V1.indexes)
  for i = 1, #timeKeys, 500 do redis.call('DEL', unpack(timeKeys, i, math.min(i + 499, #timeKeys))) end
  return 1
end)
