-- The event log, a contact's events index and per-name counters, and its last activity.
--- @include "contact_keys"
--- @include "experiments"

-- An event in the contact's events index (SUFFIX.events): name NUL time NUL log entry id NUL
-- source; its properties, unless empty, in SUFFIX.eventProperties under the log entry id. One
-- lex-ordered zset holds every name: a name's events are one member range, ordered by time.
-- The log entry id "<ms>-<seq>" is written "+<ms - time>" (and "-<seq>" unless 0) when it is not
-- before the event time (format 3: about 12 bytes less per event); format 2 wrote it whole.
local function event_time(ts)
  return string.format(EVENT_TIME.format, ts + EVENT_TIME.offset)
end

local function event_member(name, ts, eid, source)
  local at = event_time(ts)
  local ms, seq = string.match(eid, '^(%d+)-(%d+)$')
  local after = tonumber(ms) - (tonumber(at) - EVENT_TIME.offset)
  if after >= 0 then eid = '+' .. string.format('%d', after) .. (seq == '0' and '' or '-' .. seq) end
  return name .. '\0' .. at .. '\0' .. eid .. '\0' .. source
end

-- Adds an event to the contact's events index, and its properties beside it.
local function index_event(base, name, ts, eid, source, props)
  redis.call('ZADD', base .. SUFFIX.events, 0, event_member(name, ts, eid, source))
  if props ~= nil and props ~= '' and props ~= '{}' then redis.call('HSET', base .. SUFFIX.eventProperties, eid, props) end
end

-- Member range bounds (ZRANGEBYLEX, ZLEXCOUNT) of a name's events, from a time on or all of them.
local function events_from(name, ts)
  if ts == nil then return '[' .. name .. '\0' end
  return '[' .. name .. '\0' .. event_time(ts)
end
local function events_before(name, ts) return '(' .. name .. '\0' .. event_time(ts) end
local function events_end(name) return '(' .. name .. '\1' end

-- name, time (number), log entry id and source of an events index member.
local function parse_event(member)
  local name, at, eid, source = string.match(member, '^(.-)%z(%d+)%z([^%z]+)%z(.*)$')
  local ts = tonumber(at) - EVENT_TIME.offset
  local after, seq = string.match(eid, '^%+(%d+)%-?(%d*)$')
  if after then eid = string.format('%d', ts + tonumber(after)) .. '-' .. (seq == '' and '0' or seq) end
  return name, ts, eid, source
end

-- Removes events index members, their properties and the log entries they name (the log may still
-- hold them: erase finds a contact's log entries through this index only).
local function drop_events(base, shard, members)
  for i = 1, #members, 500 do
    local slice, ids = { unpack(members, i, math.min(i + 499, #members)) }, {}
    for k, member in ipairs(slice) do
      local _, _, eid = parse_event(member)
      ids[k] = eid
    end
    redis.call('ZREM', base .. SUFFIX.events, unpack(slice))
    redis.call('HDEL', base .. SUFFIX.eventProperties, unpack(ids))
    redis.call('XDEL', shard .. SHARD_KEY.log, unpack(ids))
  end
end

-- Keeps a name's events within the per-name cap (exactly), and within the retention.
local function prune_events(base, shard, name, now, lim, count)
  local events = base .. SUFFIX.events
  if count % 16 == 0 then
    drop_events(base, shard, redis.call('ZRANGEBYLEX', events, events_from(name), events_before(name, now - lim.retentionMs)))
  end
  if count > lim.perNameMax then
    local over = redis.call('ZLEXCOUNT', events, events_from(name), events_end(name)) - lim.perNameMax
    if over > 0 then
      drop_events(base, shard, redis.call('ZRANGEBYLEX', events, events_from(name), events_end(name), 'LIMIT', 0, over))
    end
  end
end

-- "<count>|<first>|<last>" of the counter field HP.counter .. name, as numbers (nil when none).
local function parse_counter(value)
  if not value then return nil end
  local count, first, last = string.match(value, '^(%d+)|(-?%d+)|(-?%d+)$')
  return tonumber(count), tonumber(first), tonumber(last)
end

-- An idempotency key as the contact's idempotency zset (SUFFIX.idempotency) holds it: as it is up
-- to 10 bytes, else "#" and 60 bits of its SHA-1 in 10 base-64 characters (format 3), so that 10
-- keys of a usual length stay within one small allocation. Two different keys of a contact within
-- the idempotency window are taken for one with a probability below n^2 / 2^61 for n keys.
local KEY_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function idempotency_member(key)
  if #key <= 10 then return key end
  local hex, out = redis.sha1hex(key), { '#' }
  for i = 1, 15, 3 do
    local n = tonumber(string.sub(hex, i, i + 2), 16)
    local high, low = math.floor(n / 64) + 1, n % 64 + 1
    out[#out + 1] = string.sub(KEY_DIGITS, high, high) .. string.sub(KEY_DIGITS, low, low)
  end
  return table.concat(out)
end

-- Whether a contact's idempotency zset holds the key (as format 3 or format 2, which kept it
-- whole, wrote it), and the member to note it as.
local function idempotency_seen(idem, key)
  local member = idempotency_member(key)
  local seen = redis.call('ZSCORE', idem, member) or (member ~= key and redis.call('ZSCORE', idem, key))
  return seen ~= false, member
end

-- Whether stream id a ("<ms>-<seq>") comes before stream id b.
local function id_before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  return am < bm or (am == bm and tonumber(as) < tonumber(bs))
end

-- The oldest of `cut` and the entries a trigger still needs: per consumer group its oldest entry
-- delivered but not acknowledged, else the last one delivered (those after it are not read yet).
-- nil when Redis does not let this user list the groups (an ACL from an older release).
local function oldest_needed(log, cut)
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', log)
  if not ok then return nil end
  for _, group in ipairs(groups) do
    local g = {}
    for i = 1, #group, 2 do g[group[i]] = group[i + 1] end
    local need = g['last-delivered-id']
    if tonumber(g.pending) > 0 then need = redis.call('XPENDING', log, g.name)[2] end
    if id_before(need, cut) then cut = need end
  end
  return cut
end

-- The log keeps an entry while a trigger still needs it (logMax at most: XADD's MAXLEN), and the
-- last logKeep entries in any case (Catch Up, Test step); older ones go. Every logKeep / 10 appends
-- (counted in SHARD_KEY.logMarks) the new entry's id replaces the one noted logKeep appends ago in
-- a ring of 10 marks, and the log is trimmed (whole stream nodes) to the older of that mark and what
-- the consumer groups still need. A group created later (Catch Up) starts with what is left.
-- eids: the entries appended since the last count, in order.
local function trim_log(shard, eids, lim)
  local marks = shard .. SHARD_KEY.logMarks
  local every = math.max(1, math.floor(lim.logKeep / 10))
  local n = redis.call('HINCRBY', marks, 'n', #eids) - #eids
  for _, eid in ipairs(eids) do
    n = n + 1
    if n % every == 0 then
      local slot = (n / every) % 10
      local mark = redis.call('HGET', marks, slot)
      redis.call('HSET', marks, slot, eid)
      if mark then
        local log = shard .. SHARD_KEY.log
        local cut = oldest_needed(log, mark)
        if cut then pcall(redis.call, 'XTRIM', log, 'MINID', '~', cut) end
      end
    end
  end
end

-- Entries appended and not yet counted, when the script counts them once at its end
-- (defer_log_trims, then trim_deferred_log): one HINCRBY per call instead of one per entry, and
-- the same marks and trims (the consumer groups do not change while a script runs).
local deferred_log_ids = nil
local function defer_log_trims() deferred_log_ids = {} end
local function trim_deferred_log(shard, lim)
  if #deferred_log_ids > 0 then trim_log(shard, deferred_log_ids, lim) end
  deferred_log_ids = {}
end

-- The log's key and its cap as text, made once per shard and limits (a call logs up to thousands of
-- events; redis.call formats a number argument with printf each time).
local log_shard, log_key, log_lim, log_max_text = nil, nil, nil, nil
-- Appends an event to the shard's log (a bounded stream); returns its id (the log entry id).
-- ev.ts may be a number or its text.
local function log_event(shard, id, name, ev, lim)
  if shard ~= log_shard then log_shard, log_key = shard, shard .. SHARD_KEY.log end
  if lim ~= log_lim then log_lim, log_max_text = lim, string.format('%d', lim.logMax) end
  local eid = redis.call('XADD', log_key, 'MAXLEN', '~', log_max_text, '*',
    'c', id, 'n', name, 't', ev.ts, 'p', ev.props, 's', ev.source, 'ch', ev.chain)
  if deferred_log_ids then
    deferred_log_ids[#deferred_log_ids + 1] = eid
  else
    trim_log(shard, { eid }, lim)
  end
  return eid
end

-- Records one event: the shard's log (a bounded stream), the contact's events index and its
-- counter. Returns the event id (the log entry id).
-- ev = {name, ts, props (json text), source, chain (json text)}; lim = limits from the caller.
-- Every redis.call costs about a microsecond on top of its command: events older than the
-- retention go every 16th event of a name (readers ignore them), the cap is read only once a name
-- could pass it.
local function record(base, shard, id, now, ev, lim)
  local eid = log_event(shard, id, ev.name, ev, lim)
  local field = HP.counter .. ev.name
  -- One read for the counter and the A/B tests waiting for this event as their goal (rarely any).
  local held = redis.call('HMGET', base, field, HP.goal .. ev.name)
  if held[2] then count_conversions(base, shard, ev.name, ev.ts, now, held[2]) end
  local count, first, last = parse_counter(held[1])
  if count then
    count, first, last = count + 1, math.min(first, ev.ts), math.max(last, ev.ts)
  else
    count, first, last = 1, ev.ts, ev.ts
  end
  redis.call('HSET', base, field, string.format('%d|%d|%d', count, first, last))
  index_event(base, ev.name, ev.ts, eid, ev.source, ev.props)
  if count % 16 == 0 or count > lim.perNameMax then prune_events(base, shard, ev.name, now, lim, count) end
  return eid
end

-- A new contact's $contact_created goes to the log only, its id to the core hash (createdEvent):
-- createdAt says when and the contact's own state what, so neither its events index nor a counter
-- needs to hold it (readers add it back: lib/contacts toContact, Events.history).
local function record_created(base, shard, id, ev, lim)
  local eid = log_event(shard, id, '$contact_created', ev, lim)
  redis.call('HSET', base, 'createdEvent', eid)
  return eid
end

local function touch_activity(base, shard, id, ts)
  local last = tonumber(redis.call('HGET', base, 'lastActivityAt'))
  if last == nil or ts > last then
    redis.call('HSET', base, 'lastActivityAt', ts)
    redis.call('ZADD', shard .. SHARD_KEY.index .. IX.active, ts, id)
  end
end
