-- Reads exactly the data a compiled segment needs (lib/segments/conditions.ts FetchSpec), as one
-- flat array per contact (no JSON, no nesting: both cost more than the reads), in the order of the
-- spec: core values, fields, tag flags, counts, windows, butNot pairs, the history entry count and
-- the entries, per score model the lengths and items of its ZRANGE and HGETALL, campaign records;
-- false when the contact does not exist. Two modes:
-- - contacts (no source): a batch of ContactStore.runBatch (each_item), one answer per contact
--   (its later items in the batch answer 0, "as before").
-- - page (source): takes up to `count` candidates from one index of the shard (a zset range by
--   rank position, or sets by SSCAN cursor, skipping members of earlier sets of a union) and
--   answers {id, data, id, data..., n = candidates read, next state JSON or false}. Never more
--   than `count` candidates, so a page never exceeds its size.
-- A third mode, plan (contacts, with a plan): the conditions decided inside Redis, one character
-- per item (see decide below).
-- KEYS[1] shard prefix
-- KEYS[2] the shard's pin (Keys.shardScriptKeys): never a key; with the prefix, Redis answers TRYAGAIN while the shard's slot moves
-- ARGV[1] JSON {spec, source?, count?}, or {plan, now} (plan mode)
-- ARGV[2] contacts mode: the item count
-- ARGV[3...] contacts mode: per item its argument count (0) and encoded id (batch.lua)
--- @include "contact_keys"
--- @include "events"
--- @include "batch"
--- @include "contact_base"
--- @include "value_test"
local req = cjson.decode(ARGV[1])

local function present(v) return v ~= nil and v ~= cjson.null end

-- The time of the latest X, and of the first Y at or after it (false when there is none).
local function latest_then_first(events, x, y)
  local last = redis.call('ZREVRANGEBYLEX', events, events_end(x), events_from(x), 'LIMIT', 0, 1)[1]
  if not last then return false, false end
  local _, lastAt = parse_event(last)
  local after = redis.call('ZRANGEBYLEX', events, events_from(y, lastAt), events_end(y), 'LIMIT', 0, 1)[1]
  if not after then return lastAt, false end
  local _, afterAt = parse_event(after)
  return lastAt, afterAt
end

-- The plan's node as a test of a contact (values: its core hash values read, base: its base key),
-- built once per call: true, false, or nil when value_test cannot tell. "all" and
-- "any" stop at the first child that decides them, so most contacts need none of the event reads.
local function plan_test(node)
  if node.all or node.any then
    local every, children = node.all ~= nil, {}
    for i, child in ipairs(node.all or node.any) do children[i] = plan_test(child) end
    return function(values, base)
      local verdict = every
      for i = 1, #children do
        local v = children[i](values, base)
        if v == nil then verdict = nil
        elseif v ~= every then return v end
      end
      return verdict
    end
  end
  local k, at = node.k, node.i
  if k == 'value' then
    local test = value_tester(node.c, node.time, req.now)
    return function(values) return test(values[at]) end
  end
  if k == 'tags' then
    local m = node.m
    return function(values)
      local any, every = false, true
      for i = 1, #at do
        if values[at[i]] then any = true else every = false end
      end
      if m == 'all' then return every end
      return any == (m == 'any')
    end
  end
  if k == 'oneOf' then
    local wanted, neg = {}, node.neg == true
    for _, v in ipairs(node.v) do wanted[v] = true end
    return function(values) return (wanted[values[at] or ''] == true) ~= neg end
  end
  if k == 'count' then
    local min, none = node.min, node.none == true
    return function(values)
      local n = parse_counter(values[at]) or 0
      if none then return n == 0 end
      return n >= min
    end
  end
  if k == 'window' then
    -- The events in the window are those at or after `since` (the window's first member's time,
    -- as events_from writes it). The name's counter bounds their number: none when its last event
    -- is before `since` (or it has none), at least one when it is not (the index keeps a name's
    -- latest events: prune_events drops the oldest, and only beyond the retention, which no window
    -- exceeds), at most its count. Only a minimum above one, and within the count, needs the index.
    local min, none = node.min, node.none == true
    local from, to = events_from(node.e, node.s), events_end(node.e)
    local since = tonumber(event_time(node.s)) - EVENT_TIME.offset
    return function(values, base)
      local count, _, last = parse_counter(values[at])
      if not count or last < since then return none end
      if none then return false end
      if min <= 1 then return true end
      if count < min then return false end
      return redis.call('ZLEXCOUNT', base .. SUFFIX.events, from, to) >= min
    end
  end
  if k == 'butNot' then
    local x, y, span, now = node.x, node.y, node.span, req.now
    return function(_, base)
      local lastX, firstY = latest_then_first(base .. SUFFIX.events, x, y)
      if not lastX then return false end
      if not present(span) then return not firstY end
      local ends = lastX + span
      return now >= ends and (not firstY or firstY > ends)
    end
  end
  error('read_segment: unknown plan node ' .. tostring(k))
end

-- Per-item mode with a plan (lib/segments/conditions.ts LuaPlan): the conditions decided here, a
-- character per item: '1' matched, '0' not matched, '-' not found, '?' cannot tell (TypeScript
-- decides that contact from its data).
local function decide_all(plan)
  local reads, test = plan.reads, plan_test(plan.tree)
  return item_codes(function(base)
    local values = redis.call('HMGET', base, unpack(reads))
    if not values[1] then return '-' end
    local v = test(values, base)
    if v == nil then return '?' end
    return v and '1' or '0'
  end)
end

if present(req.plan) then return decide_all(req.plan) end

local spec = req.spec

-- Each redis.call costs microseconds on top of its command, more than reading a few more fields:
-- the core values, fields, tag flags and counters, all fields of the core hash, are one HMGET.
local hashNames, nCore, nFields, nTags = {}, #spec.core, #spec.fields, #spec.tags
for i, n in ipairs(spec.core) do hashNames[i] = n end
for _, n in ipairs(spec.fields) do hashNames[#hashNames + 1] = HP.field .. n end
for _, n in ipairs(spec.tags) do hashNames[#hashNames + 1] = HP.tag .. n end
for _, n in ipairs(spec.counts) do hashNames[#hashNames + 1] = HP.counter .. n end
local tagsFrom, countsFrom = nCore + nFields + 1, nCore + nFields + nTags + 1
-- The windows' member ranges, the same for every contact.
local windows = {}
for i, w in ipairs(spec.windows) do windows[i] = { events_from(w[1], w[2]), events_end(w[1]) } end
local historyNames = present(spec.history) and spec.history.names or {}
local historySince = present(spec.history) and present(spec.history.since) and spec.history.since or nil

local function append(out, n, list)
  for i = 1, #list do out[n + i] = list[i] end
  return n + #list
end

local function fetch(base)
  -- spec.core starts with 'id', which every contact has.
  local out = redis.call('HMGET', base, unpack(hashNames))
  if not out[1] then return false end
  local n = #out
  for i = tagsFrom, countsFrom - 1 do out[i] = out[i] and 1 or 0 end
  for i = countsFrom, n do out[i] = out[i] and (parse_counter(out[i])) or false end
  local events = base .. SUFFIX.events
  for _, w in ipairs(windows) do
    n = n + 1
    out[n] = redis.call('ZLEXCOUNT', events, w[1], w[2])
  end
  for _, p in ipairs(spec.butNot) do
    out[n + 1], out[n + 2] = latest_then_first(events, p[1], p[2])
    n = n + 2
  end
  if #historyNames > 0 then
    -- The asked-for names' events since the spec's time: name, time and properties (false when
    -- none), three values each.
    local at, ids = n + 1, {}
    n = at
    for _, name in ipairs(historyNames) do
      for _, member in ipairs(redis.call('ZRANGEBYLEX', events, events_from(name, historySince), events_end(name))) do
        local evName, ts, eid = parse_event(member)
        out[n + 1], out[n + 2] = evName, ts
        ids[#ids + 1] = eid
        n = n + 3
      end
    end
    for from = 1, #ids, 1000 do
      local props = redis.call('HMGET', base .. SUFFIX.eventProperties, unpack(ids, from, math.min(from + 999, #ids)))
      for k = 1, #props do out[at + 3 * (from + k - 1)] = props[k] end
    end
    out[at] = #ids
  end
  for _, model in ipairs(spec.scores) do
    for _, list in ipairs({ redis.call('ZRANGE', base .. SUFFIX.scoreAwards .. ':' .. model, 0, -1, 'WITHSCORES'), redis.call('HGETALL', base .. SUFFIX.scoreValues .. ':' .. model) }) do
      out[n + 1] = #list
      n = append(out, n + 1, list)
    end
  end
  if #spec.campaigns > 0 then append(out, n, redis.call('HMGET', base .. SUFFIX.campaigns, unpack(spec.campaigns))) end
  return out
end

if not present(req.source) then return each_item(fetch, nil, true) end

local shard, src, count = KEYS[1], req.source, req.count
local ids, nextState = {}, false
if src.kind == 'zset' then
  local key = shard .. SHARD_KEY.index .. src.names[1]
  local start
  if present(src.after) then
    local rank = redis.call('ZRANK', key, src.after[1])
    if rank then start = rank + 1 else start = redis.call('ZCOUNT', key, '-inf', '(' .. src.after[2]) end
  elseif present(src.min) then
    start = redis.call('ZCOUNT', key, '-inf', '(' .. src.min)
  else
    start = 0
  end
  local got = redis.call('ZRANGE', key, start, start + count - 1, 'WITHSCORES')
  local done, last = #got < 2 * count, nil
  for i = 1, #got, 2 do
    if present(src.max) and tonumber(got[i + 1]) > src.max then
      done = true
      break
    end
    table.insert(ids, got[i])
    last = { got[i], got[i + 1] }
  end
  if not done and last then nextState = { after = last } end
  count = #ids
else
  -- SSCAN may return more than asked (small sets come whole): take `count` and remember how many
  -- of this batch were taken, to re-read the same batch (same cursor) and skip them next time.
  local k = present(src.k) and src.k or 1
  local cursor = present(src.cursor) and src.cursor or '0'
  local skip = present(src.skip) and src.skip or 0
  -- The batch depends on COUNT: re-reading a batch uses the COUNT that first read it.
  local scanCount = (skip > 0 and present(src.sc)) and src.sc or count
  local res = redis.call('SSCAN', shard .. SHARD_KEY.index .. src.names[k], cursor, 'COUNT', scanCount)
  local batch, taken = res[2], 0
  for i = skip + 1, #batch do
    if taken >= count then break end
    taken = taken + 1
    local id, seen = batch[i], false
    for j = 1, k - 1 do
      if redis.call('SISMEMBER', shard .. SHARD_KEY.index .. src.names[j], id) == 1 then
        seen = true
        break
      end
    end
    if not seen then table.insert(ids, id) end
  end
  if skip + taken < #batch then
    nextState = { k = k, cursor = cursor, skip = skip + taken, sc = scanCount }
  elseif res[1] ~= '0' then
    nextState = { k = k, cursor = res[1], skip = 0 }
  elseif k < #src.names then
    nextState = { k = k + 1, cursor = '0', skip = 0 }
  end
  count = taken
end

local out = {}
for _, id in ipairs(ids) do
  local d = fetch(contact_base(shard, id))
  if d then
    out[#out + 1] = id
    out[#out + 1] = d
  end
end
out[#out + 1] = count
out[#out + 1] = nextState and cjson.encode(nextState) or false
return out
