-- Scores contacts atomically: adds event awards (idempotent by award key), applies field rules,
-- prunes dead awards, computes the decayed score, keeps the score indexes and the grade, and
-- records $grade_changed when the grade moves.
-- A batch script (each_item): KEYS[1] shard prefix; ARGV[1] JSON of the model, the same for the
-- whole batch: {now, model, fieldRules [{key, rule, points, cond}], grades [{name, min}]
-- (ascending; the first has no min), maxAwards, limits}; per item: id, source, chain, then five
-- arguments per event award: key, rule, points, at, encoded value.
-- Answers per item {score, ceiling, floor, grade, previous grade, 1 when the grade changed else 0,
-- $grade_changed event id or false, {rule, points, ...} awarded, {rule, ...} duplicates,
-- {rule, 1 or 0, ...} field rules}, numbers as text (Lua numbers would reach the client as integers).
local shard = KEYS[1]
local m = cjson.decode(ARGV[1])
local now, model, lim = m.now, m.model, m.limits
local ixScore, ixMin = shard .. ':ix:score:' .. model, shard .. ':ix:scoremin:' .. model
-- The values hash fields read first for every item: the running sums and each field rule's award.
local firstReads = { '~cache' }
for _, f in ipairs(m.fieldRules) do table.insert(firstReads, f.key) end

-- Same arithmetic as lib/scoring/decay.ts awardValue.
local function entry_value(enc, at)
  local points, mode, period = string.match(enc, '^([^|]+)|(%a)|(%d+)$')
  points, period = tonumber(points), tonumber(period)
  local v = points
  if mode == 'x' then
    if now >= at + period then v = 0 end
  elseif mode == 'h' then
    local age = now - at
    if age < 0 then age = 0 end
    v = points * math.pow(0.5, age / period)
  else
    return v, v, v, mode, period
  end
  return v, math.max(v, 0), math.min(v, 0), mode, period
end

local function round2(x)
  local y = math.floor(x * 100 + 0.5) / 100
  if y == 0 then return 0 end
  return y
end

-- Field rules: the stored value, typed as the segment reader sees it.
local CORE_TIMES = { createdAt = true, updatedAt = true, lastActivityAt = true, lastEventAt = true, consentAt = true }
local function field_value(base, c)
  if c.core then
    local v = redis.call('HGET', base, c.field)
    if v and CORE_TIMES[c.field] and tonumber(v) then return v, tonumber(v) end
    return v, nil
  end
  local enc = redis.call('HGET', base .. ':f', c.field)
  if not enc then return nil, nil end
  local kind, text = string.sub(enc, 1, 1), string.sub(enc, 3)
  if kind == 'n' then return text, tonumber(text) end
  if kind == 'b' then
    if text == '1' then return 'true', nil end
    return 'false', nil
  end
  return text, nil
end

local function lower(s, c)
  if c.ignoreCase then return string.lower(s) end
  return s
end

local function eq(text, num, operand, c)
  if num ~= nil and operand.num ~= nil then return num == operand.num end
  return operand.str ~= nil and lower(text, c) == lower(operand.str, c)
end

-- Ordered comparison: numbers with numbers; ISO date text with ISO date text (same format).
local function ordered(text, num, operand)
  if operand.num ~= nil then return num end
  if operand.iso ~= nil and string.match(text, '^%d%d%d%d%-%d%d%-%d%d') then return text end
  return nil
end

local function holds(base, c)
  local text, num = field_value(base, c)
  local op = c.op
  if op == 'exists' then return text ~= nil end
  if op == 'notExists' then return text == nil end
  if text == nil then return op == 'notEquals' or op == 'notIn' or op == 'notContains' end
  if op == 'equals' then return eq(text, num, c.a, c) end
  if op == 'notEquals' then return not eq(text, num, c.a, c) end
  if op == 'in' or op == 'notIn' then
    local found = false
    for _, operand in ipairs(c.list) do
      if eq(text, num, operand, c) then found = true end
    end
    if op == 'in' then return found end
    return not found
  end
  if op == 'contains' then return string.find(lower(text, c), lower(c.a.str, c), 1, true) ~= nil end
  if op == 'notContains' then return string.find(lower(text, c), lower(c.a.str, c), 1, true) == nil end
  if op == 'startsWith' then
    local s, p = lower(text, c), lower(c.a.str, c)
    return string.sub(s, 1, #p) == p
  end
  if op == 'endsWith' then
    local s, p = lower(text, c), lower(c.a.str, c)
    return #p <= #s and string.sub(s, -#p) == p
  end
  local x = ordered(text, num, c.a)
  if x == nil then return false end
  local a = c.a.num or c.a.iso
  if op == 'gt' then return x > a end
  if op == 'gte' then return x >= a end
  if op == 'lt' then return x < a end
  if op == 'lte' then return x <= a end
  if op == 'between' then
    local b = c.b.num or c.b.iso
    return x >= a and x <= b
  end
  return false
end

-- Every redis.call costs about a microsecond on top of its command: an item costs two reads,
-- one write per new award, and three writes, unless an award expired since the last full pass.
return each_item(function(base, args)
  local r = { id = args[1], source = args[2], chain = args[3], awards = {} }
  for i = 4, #args, 5 do
    table.insert(r.awards, { key = args[i], rule = args[i + 1], points = args[i + 2], at = tonumber(args[i + 3]), enc = args[i + 4] })
  end
  local core = redis.call('HMGET', base, 'id', 'grade:' .. model)
  if not core[1] then return redis.error_reply('NOT_FOUND contact does not exist') end
  local awardsKey = base .. ':sp:' .. model
  local valuesKey = base .. ':sv:' .. model
  local first = redis.call('HMGET', valuesKey, unpack(firstReads))

  -- "~cache": the sums of the live awards that do not halve (score, ceiling, floor), the award
  -- count, the next instant an award expires (or a halving one is worth pruning), and for
  -- halving awards (one half-life) their positive and negative sums at the instant written.
  -- Until that next instant the sums only move by this call's own awards and by the halving
  -- (one factor for all): no need to read and re-add every award (the full pass below).
  local cache = first[1]
  local fast, sum, hi, lo, n, nextExpiry = false, 0, 0, 0, 0, math.huge
  local halfLife, hpos, hneg = nil, 0, 0
  if cache then
    local f = {}
    for part in string.gmatch(cache, '[^|]+') do table.insert(f, part) end
    sum, hi, lo, n, nextExpiry = tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5]) or math.huge
    halfLife = tonumber(f[6])
    if halfLife then
      local factor = math.pow(0.5, (now - tonumber(f[7])) / halfLife)
      hpos, hneg = tonumber(f[8]) * factor, tonumber(f[9]) * factor
    end
    fast = now < nextExpiry
  end
  local cachedHi, cachedLo = hi + hpos, lo + hneg
  local dirty = false
  local function adjust(enc, at, sign)
    local v, h, l, mode, period = entry_value(enc, at)
    if mode == 'h' then
      -- A second half-life, or an award dated ahead (its value is held until then): full pass.
      if at > now or (halfLife and halfLife ~= period) then fast = false end
      halfLife, hpos, hneg = period, hpos + sign * h, hneg + sign * l
      if at + 20 * period < nextExpiry then nextExpiry = at + 20 * period end
    else
      if mode == 'x' and v ~= 0 and at + period < nextExpiry then nextExpiry = at + period end
      sum, hi, lo = sum + sign * v, hi + sign * h, lo + sign * l
    end
    n = n + sign
    dirty = true
  end

  local newValues = {}
  local function add_award(key, at, enc)
    table.insert(newValues, key)
    table.insert(newValues, enc)
    adjust(enc, at, 1)
  end

  local awarded, duplicates = {}, {}
  for _, a in ipairs(r.awards) do
    -- NX: an award key given once is never given again (webhook retries, replays).
    if redis.call('ZADD', awardsKey, 'NX', a.at, a.key) == 0 then
      table.insert(duplicates, a.rule)
    else
      add_award(a.key, a.at, a.enc)
      table.insert(awarded, a.rule)
      table.insert(awarded, a.points)
    end
  end

  local fieldResults = {}
  for i, f in ipairs(m.fieldRules) do
    local present = first[i + 1]
    local ok = holds(base, f.cond)
    table.insert(fieldResults, f.rule)
    table.insert(fieldResults, ok and 1 or 0)
    if ok and not present then
      redis.call('ZADD', awardsKey, now, f.key)
      add_award(f.key, now, f.points .. '|n|0')
      table.insert(awarded, f.rule)
      table.insert(awarded, tostring(f.points))
    elseif not ok and present then
      -- Withdrawn while the condition no longer holds.
      redis.call('ZREM', awardsKey, f.key)
      redis.call('HDEL', valuesKey, f.key)
      adjust(present, now, -1)
      table.insert(awarded, f.rule)
      table.insert(awarded, tostring(-tonumber(string.match(present, '^([^|]+)|'))))
    end
  end
  local created = #newValues > 0
  -- The award keys exist from their first award on: register them then (erase relies on it).
  if created or not cache then redis.call('SADD', base .. ':k', awardsKey, valuesKey) end

  local score, ceiling, floor
  if fast and n <= m.maxAwards then
    score, ceiling, floor = sum + hpos + hneg, hi + hpos, lo + hneg
  else
    if created then redis.call('HSET', valuesKey, unpack(newValues)) end
    newValues = {}
    -- Full pass. Prune awards that are worth nothing any more, except once-per-contact and field
    -- awards, whose key must stay to keep them from being given again. Over the cap, the oldest
    -- non-decaying awards fold into "~base" and the oldest decaying ones are dropped.
    local entries = redis.call('ZRANGE', awardsKey, 0, -1, 'WITHSCORES')
    local stored = {}
    local flat = redis.call('HGETALL', valuesKey)
    for i = 1, #flat, 2 do stored[flat[i]] = flat[i + 1] end
    -- One pass: each award's value now (parsed once), and the dead ones removed.
    local keep, dead = {}, {}
    -- The sums can be kept when halving awards share one half-life and none is dated ahead.
    local cacheable = true
    halfLife, nextExpiry = nil, math.huge
    for i = 1, #entries, 2 do
      local key, at = entries[i], tonumber(entries[i + 1])
      local enc = stored[key]
      local kind = string.sub(key, 1, 2)
      local gone = enc == nil
      local v, h, l, mode, period
      if enc then
        v, h, l, mode, period = entry_value(enc, at)
        if kind ~= 'o:' and kind ~= 'f:' then
          if mode == 'x' and v == 0 then gone = true end
          if mode == 'h' and now - at > 20 * period then gone = true end
        end
      end
      if gone then
        table.insert(dead, key)
      else
        if mode == 'h' then
          if at > now or (halfLife and halfLife ~= period) then cacheable = false end
          halfLife = period
          if at + 20 * period < nextExpiry then nextExpiry = at + 20 * period end
        end
        if mode == 'x' and v ~= 0 and at + period < nextExpiry then nextExpiry = at + period end
        table.insert(keep, { key = key, kind = kind, v = v, hi = h, lo = l, mode = mode })
      end
    end
    local base_points = tonumber(stored['~base'] or '0')
    local over = #keep - m.maxAwards
    if over > 0 then
      local kept = {}
      for _, e in ipairs(keep) do
        if over > 0 and e.kind ~= 'o:' and e.kind ~= 'f:' then
          over = over - 1
          if e.mode == 'n' then base_points = base_points + e.v end
          table.insert(dead, e.key)
        else
          table.insert(kept, e)
        end
      end
      table.insert(newValues, '~base')
      table.insert(newValues, base_points)
      keep = kept
    end
    -- One ZREM and one HDEL for all of them (in slices: unpack has a stack limit).
    for i = 1, #dead, 1000 do
      local slice = { unpack(dead, i, math.min(i + 999, #dead)) }
      redis.call('ZREM', awardsKey, unpack(slice))
      redis.call('HDEL', valuesKey, unpack(slice))
    end
    sum, hi, lo, hpos, hneg = base_points, base_points, base_points, 0, 0
    for _, e in ipairs(keep) do
      if e.mode == 'h' then
        hpos, hneg = hpos + e.hi, hneg + e.lo
      else
        sum, hi, lo = sum + e.v, hi + e.hi, lo + e.lo
      end
    end
    score, ceiling, floor = sum + hpos + hneg, hi + hpos, lo + hneg
    n, dirty = #keep, cacheable
    if not cacheable and cache then redis.call('HDEL', valuesKey, '~cache') end
  end
  if dirty then
    local expiry = '-'
    if nextExpiry ~= math.huge then expiry = string.format('%d', nextExpiry) end
    table.insert(newValues, '~cache')
    local halving = '-|-|0|0'
    if halfLife then halving = string.format('%.17g|%d|%.17g|%.17g', halfLife, now, hpos, hneg) end
    table.insert(newValues, string.format('%.17g|%.17g|%.17g|%d|%s|%s', sum, hi, lo, n, expiry, halving))
  end
  if #newValues > 0 then redis.call('HSET', valuesKey, unpack(newValues)) end
  score, ceiling, floor = round2(score), round2(ceiling), round2(floor)

  -- The index holds bounds, since decay moves the score between writes: ix:score:<model> the most
  -- it can be worth (for score >= X), ix:scoremin:<model> the least (for score <= X). Unchanged
  -- sums (fast path) mean the index already holds them.
  if not (fast and round2(cachedHi) == ceiling and round2(cachedLo) == floor) then
    if redis.call('ZADD', ixScore, ceiling, r.id) + redis.call('ZADD', ixMin, floor, r.id) > 0 then
      redis.call('SADD', base .. ':x', ixScore, ixMin)
    end
  end

  local grade = m.grades[1].name
  for _, g in ipairs(m.grades) do
    if g.min ~= nil and g.min ~= cjson.null and score >= g.min then grade = g.name end
  end
  -- A contact never graded counts as being in the lowest grade.
  local previous = core[2] or m.grades[1].name
  local changed = previous ~= grade
  local eventId = nil
  if changed then
    redis.call('HSET', base, 'score:' .. model, score, 'grade:' .. model, grade, 'scoredAt:' .. model, now, 'lastEventAt', now)
    redis.call('SREM', shard .. ':ix:grade:' .. model .. ':' .. previous, r.id)
    eventId = record(base, shard, r.id, now, {
      name = '$grade_changed', ts = now, source = r.source, chain = r.chain,
      props = cjson.encode({ model = model, from = previous, to = grade, score = score }),
    }, lim)
  else
    redis.call('HSET', base, 'score:' .. model, score, 'grade:' .. model, grade, 'scoredAt:' .. model, now)
  end
  -- A stored grade is already in its index.
  if changed or not core[2] then
    local ixGrade = shard .. ':ix:grade:' .. model .. ':' .. grade
    if redis.call('SADD', ixGrade, r.id) == 1 then reg_index(base, ixGrade) end
  end

  return {
    tostring(score), tostring(ceiling), tostring(floor), grade, previous, changed and 1 or 0,
    eventId or false, awarded, duplicates, fieldResults,
  }
end)
