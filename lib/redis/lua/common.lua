-- Shared by every script of the pack (the loader prepends this file).
-- KEYS[1] is always a contact base key or a shard key; every key touched shares its hash tag.

local function reg_key(base, key)
  redis.call('SADD', base .. ':k', key)
end

-- Remember which index keys hold this contact, so erase can remove it from all of them.
local function reg_index(base, key)
  redis.call('SADD', base .. ':x', key)
end

local function json_or_empty(t)
  if t == nil or next(t) == nil then return '{}' end
  return cjson.encode(t)
end

-- Typed field values are stored as "<type>:<text>": s string, n number, b boolean (1/0), d ISO date.
local function decode_value(enc)
  if enc == nil or enc == false then return cjson.null end
  local kind, text = string.sub(enc, 1, 1), string.sub(enc, 3)
  if kind == 'n' then return tonumber(text) end
  if kind == 'b' then return text == '1' end
  return text
end

-- Records one event: the shard's log (a bounded stream), the contact's history and per-name
-- counters and time index. Returns the event id (the log entry id).
-- ev = {name, ts, props (json text), source, chain (json text)}; lim = limits from the caller.
-- Every redis.call costs about a microsecond on top of its command, so work that is only
-- occasionally needed (pruning, registering keys) runs only when it is.
local function record(base, shard, id, now, ev, lim)
  local eid = redis.call('XADD', shard .. ':log', 'MAXLEN', '~', lim.logMax, '*',
    'c', id, 'n', ev.name, 't', ev.ts, 'p', ev.props, 's', ev.source, 'ch', ev.chain)
  -- The contact's log entry ids let erase delete them; ids the stream has trimmed are dropped.
  redis.call('ZADD', base .. ':l', tonumber(string.match(eid, '^(%d+)')), eid)

  local counters = base .. ':n'
  local count = redis.call('HINCRBY', counters, 'count:' .. ev.name, 1)
  local times = base .. ':e:' .. ev.name
  local history = base .. ':h'
  if count == 1 then
    redis.call('HSET', counters, 'first:' .. ev.name, ev.ts, 'last:' .. ev.name, ev.ts)
    -- The first event of a name creates its time index: register the keys an event writes
    -- (erase and export rely on it); later events of the name add no key.
    redis.call('SADD', base .. ':k', base .. ':l', counters, times, history)
  else
    local bounds = redis.call('HMGET', counters, 'first:' .. ev.name, 'last:' .. ev.name)
    local first, last = tonumber(bounds[1]), tonumber(bounds[2])
    if last == nil or ev.ts > last then redis.call('HSET', counters, 'last:' .. ev.name, ev.ts) end
    if first == nil or ev.ts < first then redis.call('HSET', counters, 'first:' .. ev.name, ev.ts) end
    -- Pruning ids the stream has trimmed every 16th event of a name keeps this off the hot path;
    -- erase deletes the ids it finds, and XDEL of an id already trimmed is a no-op.
    if count % 16 == 0 then
      local oldest = redis.call('XRANGE', shard .. ':log', '-', '+', 'COUNT', 1)[1]
      if oldest then
        redis.call('ZREMRANGEBYSCORE', base .. ':l', '-inf', '(' .. string.match(oldest[1], '^(%d+)'))
      end
    end
  end

  redis.call('ZADD', times, ev.ts, eid)
  redis.call('ZREMRANGEBYSCORE', times, '-inf', '(' .. (now - lim.retentionMs))
  -- The index never holds more entries than events of the name ever recorded.
  if count > lim.perNameMax then redis.call('ZREMRANGEBYRANK', times, 0, -(lim.perNameMax + 1)) end

  redis.call('ZADD', history, ev.ts, cjson.encode({ id = eid, name = ev.name, ts = ev.ts, props = ev.props, source = ev.source }))
  redis.call('ZREMRANGEBYRANK', history, 0, -(lim.historyMax + 1))
  return eid
end

local function touch_activity(base, shard, id, ts)
  local last = tonumber(redis.call('HGET', base, 'lastActivityAt'))
  if last == nil or ts > last then
    redis.call('HSET', base, 'lastActivityAt', ts)
    -- ZADD answers 1 only when the contact enters the index: register it then, not on every event.
    if redis.call('ZADD', shard .. ':ix:act', ts, id) == 1 then reg_index(base, shard .. ':ix:act') end
  end
end

-- Creates the contact's core hash when missing; returns true when it was created.
local function ensure_contact(base, shard, id, now)
  if redis.call('EXISTS', base) == 1 then return false end
  redis.call('HSET', base, 'id', id, 'createdAt', now, 'updatedAt', now)
  redis.call('ZADD', shard .. ':ix:all', now, id)
  reg_index(base, shard .. ':ix:all')
  return true
end

-- Batch scripts (ContactStore.runBatch): KEYS[1] the shard prefix, ARGV[1] what the items share,
-- ARGV[2] the item count, then per item: its argument count, its contact base key (in the shard's
-- slot) and its arguments; a contact's items come one after another. Runs fn(base, args) per item
-- and answers the array of the answers, each a flat array (no JSON: encoding costs more than the
-- item's own commands). An item's error ({err = ...} returned, or raised) is its own answer and
-- the other items go on. The optional flush() runs when the items of a contact end, for scripts
-- that keep a contact's state across its items and write it once. With `repeats` (read-only
-- scripts whose answer depends on the contact alone), a contact's later items answer 0: "as the
-- item before" (runBatch's `repeats`), so the contact is read and sent once.
local function each_item(fn, flush, repeats)
  local out, at, last = {}, 3, nil
  for i = 1, tonumber(ARGV[2]) do
    local count, base = tonumber(ARGV[at]), ARGV[at + 1]
    if flush and last and base ~= last then flush() end
    if repeats and base == last then
      out[i] = 0
    else
      local ok, answer = pcall(fn, base, { unpack(ARGV, at + 2, at + 1 + count) })
      if not ok then
        if type(answer) == 'table' and answer.err then answer = { err = answer.err } else answer = { err = tostring(answer) } end
      end
      out[i] = answer
    end
    last = base
    at = at + 2 + count
  end
  if flush and last then flush() end
  return out
end
