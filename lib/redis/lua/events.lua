-- The event log, a contact's history and per-name counters, and its last activity.
--- @include "contact_keys"
--- @include "register"

-- Records one event: the shard's log (a bounded stream), the contact's history and per-name
-- counters and time index. Returns the event id (the log entry id).
-- ev = {name, ts, props (json text), source, chain (json text)}; lim = limits from the caller.
-- Every redis.call costs about a microsecond on top of its command, so work that is only
-- occasionally needed (pruning, registering keys) runs only when it is.
local function record(base, shard, id, now, ev, lim)
  local eid = redis.call('XADD', shard .. ':log', 'MAXLEN', '~', lim.logMax, '*',
    'c', id, 'n', ev.name, 't', ev.ts, 'p', ev.props, 's', ev.source, 'ch', ev.chain)
  -- The contact's log entry ids let erase delete them; ids the stream has trimmed are dropped.
  redis.call('ZADD', base .. SUFFIX.logEntries, tonumber(string.match(eid, '^(%d+)')), eid)

  local counters = base .. SUFFIX.counters
  local count = redis.call('HINCRBY', counters, 'count:' .. ev.name, 1)
  local times = base .. SUFFIX.eventTimes .. ':' .. ev.name
  local history = base .. SUFFIX.history
  if count == 1 then
    redis.call('HSET', counters, 'first:' .. ev.name, ev.ts, 'last:' .. ev.name, ev.ts)
    -- The first event of a name creates its time index: register the keys an event writes
    -- (erase and export rely on it); later events of the name add no key.
    redis.call('SADD', base .. SUFFIX.keys, base .. SUFFIX.logEntries, counters, times, history)
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
        redis.call('ZREMRANGEBYSCORE', base .. SUFFIX.logEntries, '-inf', '(' .. string.match(oldest[1], '^(%d+)'))
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
