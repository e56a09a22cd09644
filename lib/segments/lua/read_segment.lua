-- Reads exactly the data a compiled segment needs (lib/segments/conditions.ts FetchSpec).
-- mode 'contact': KEYS[1] a contact base; returns its data or false.
-- mode 'page': KEYS[1] a shard prefix; takes up to `count` candidates from one index of the shard
-- (a zset range by rank position, or sets by SSCAN cursor, skipping members of earlier sets of a
-- union) and returns {items = [[id, data]...], n = candidates read, next = state or false}.
-- Never more than `count` candidates, so a page never exceeds its size.
-- ARGV[1] JSON {mode, spec, source?, count?}
local req = cjson.decode(ARGV[1])
local spec = req.spec

local function present(v) return v ~= nil and v ~= cjson.null end

local needles = {}
if present(spec.history) then
  for _, name in ipairs(spec.history.names) do needles[name] = '"name":' .. cjson.encode(name) end
end

local function fetch(base)
  -- spec.core starts with 'id', which every contact has.
  local core = redis.call('HMGET', base, unpack(spec.core))
  if not core[1] then return false end
  local out = { core = core, fields = {}, tags = {}, counts = {}, windows = {}, butNot = {}, history = {}, scores = {}, campaigns = {} }
  if #spec.fields > 0 then out.fields = redis.call('HMGET', base .. ':f', unpack(spec.fields)) end
  for i, t in ipairs(spec.tags) do out.tags[i] = redis.call('SISMEMBER', base .. ':t', t) end
  if #spec.counts > 0 then
    local names = {}
    for i, n in ipairs(spec.counts) do names[i] = 'count:' .. n end
    out.counts = redis.call('HMGET', base .. ':n', unpack(names))
  end
  for i, w in ipairs(spec.windows) do out.windows[i] = redis.call('ZCOUNT', base .. ':e:' .. w[1], w[2], '+inf') end
  for i, p in ipairs(spec.butNot) do
    local last = redis.call('ZREVRANGE', base .. ':e:' .. p[1], 0, 0, 'WITHSCORES')
    if #last == 0 then
      out.butNot[i] = { false, false }
    else
      local after = redis.call('ZRANGEBYSCORE', base .. ':e:' .. p[2], last[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      out.butNot[i] = { tonumber(last[2]), (#after > 0) and tonumber(after[2]) or false }
    end
  end
  if present(spec.history) then
    local min = present(spec.history.since) and spec.history.since or '-inf'
    for _, entry in ipairs(redis.call('ZRANGEBYSCORE', base .. ':h', min, '+inf')) do
      for name, needle in pairs(needles) do
        if string.find(entry, needle, 1, true) then
          local ev = cjson.decode(entry)
          if ev.name == name then table.insert(out.history, { ev.name, ev.ts, ev.props }) end
          break
        end
      end
    end
  end
  for i, model in ipairs(spec.scores) do
    out.scores[i] = { redis.call('ZRANGE', base .. ':sp:' .. model, 0, -1, 'WITHSCORES'), redis.call('HGETALL', base .. ':sv:' .. model) }
  end
  if #spec.campaigns > 0 then out.campaigns = redis.call('HMGET', base .. ':cmp', unpack(spec.campaigns)) end
  return out
end

if req.mode == 'contact' then
  local d = fetch(KEYS[1])
  if not d then return false end
  return cjson.encode(d)
end

-- Same encoding as lib/keys.ts encodeKeyPart.
local function encode_id(id)
  return (string.gsub(id, '[^%w%._@%+%-]', function(c) return string.format('%%%02X', string.byte(c)) end))
end

local shard, src, count = KEYS[1], req.source, req.count
local ids, nextState = {}, false
if src.kind == 'zset' then
  local key = shard .. ':ix:' .. src.names[1]
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
  local res = redis.call('SSCAN', shard .. ':ix:' .. src.names[k], cursor, 'COUNT', scanCount)
  local batch, taken = res[2], 0
  for i = skip + 1, #batch do
    if taken >= count then break end
    taken = taken + 1
    local id, seen = batch[i], false
    for j = 1, k - 1 do
      if redis.call('SISMEMBER', shard .. ':ix:' .. src.names[j], id) == 1 then
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

local items = {}
for _, id in ipairs(ids) do
  local d = fetch(shard .. ':c:' .. encode_id(id))
  if d then table.insert(items, { id, d }) end
end
return cjson.encode({ items = items, n = count, next = nextState })
