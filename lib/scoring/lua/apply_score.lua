-- Scores one contact atomically: adds event awards (idempotent by award key), applies field rules,
-- prunes dead awards, computes the decayed score, keeps the score indexes and the grade, and
-- records $grade_changed when the grade moves.
-- KEYS[1] contact base, KEYS[2] shard prefix.
-- ARGV[1] JSON of the item: {id, now, awards [{key, rule, points, at, enc}], source, chain}
-- ARGV[2] JSON of the model, the same for a whole batch: {model, fieldRules [{key, rule, points,
--   cond}], grades [{name, min}] (ascending; the first has no min), maxAwards, limits}
local base, shard = KEYS[1], KEYS[2]
local r, m = cjson.decode(ARGV[1]), cjson.decode(ARGV[2])
local now, model, lim = r.now, m.model, m.limits

if redis.call('EXISTS', base) == 0 then
  return redis.error_reply('NOT_FOUND contact does not exist')
end

local awardsKey = base .. ':sp:' .. model
local valuesKey = base .. ':sv:' .. model

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

local function add_award(key, at, enc)
  redis.call('ZADD', awardsKey, at, key)
  redis.call('HSET', valuesKey, key, enc)
end

local awarded, duplicates = {}, {}
for _, a in ipairs(r.awards) do
  if redis.call('ZSCORE', awardsKey, a.key) then
    table.insert(duplicates, a.rule)
  else
    add_award(a.key, a.at, a.enc)
    table.insert(awarded, { rule = a.rule, points = a.points })
  end
end

-- Field rules: the stored value, typed as the segment reader sees it.
local fieldsKey = base .. ':f'
local function field_value(c)
  if c.core then
    local v = redis.call('HGET', base, c.field)
    if v and tonumber(v) and (c.field == 'createdAt' or c.field == 'updatedAt' or c.field == 'lastActivityAt' or c.field == 'lastEventAt' or c.field == 'consentAt') then
      return v, tonumber(v)
    end
    return v, nil
  end
  local enc = redis.call('HGET', fieldsKey, c.field)
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

local function holds(c)
  local text, num = field_value(c)
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

local fieldResults = {}
for _, f in ipairs(m.fieldRules) do
  local present = redis.call('ZSCORE', awardsKey, f.key)
  local ok = holds(f.cond)
  fieldResults[f.rule] = ok
  if ok and not present then
    add_award(f.key, now, f.points .. '|n|0')
    table.insert(awarded, { rule = f.rule, points = f.points })
  elseif not ok and present then
    -- Withdrawn while the condition no longer holds.
    local enc = redis.call('HGET', valuesKey, f.key) or (f.points .. '|n|0')
    redis.call('ZREM', awardsKey, f.key)
    redis.call('HDEL', valuesKey, f.key)
    table.insert(awarded, { rule = f.rule, points = -tonumber(string.match(enc, '^([^|]+)|')) })
  end
end

-- Prune awards that are worth nothing any more, except once-per-contact and field awards, whose
-- key must stay to keep them from being given again. Over the cap, the oldest non-decaying
-- awards fold into "~base" and the oldest decaying ones are dropped.
local entries = redis.call('ZRANGE', awardsKey, 0, -1, 'WITHSCORES')
local stored = {}
local flat = redis.call('HGETALL', valuesKey)
for i = 1, #flat, 2 do stored[flat[i]] = flat[i + 1] end
-- One pass: each award's value now (parsed once), and the dead ones removed.
local keep = {}
for i = 1, #entries, 2 do
  local key, at = entries[i], tonumber(entries[i + 1])
  local enc = stored[key]
  local kind = string.sub(key, 1, 2)
  local dead = enc == nil
  local v, hi, lo, mode, period
  if enc then
    v, hi, lo, mode, period = entry_value(enc, at)
    if kind ~= 'o:' and kind ~= 'f:' then
      if mode == 'x' and v == 0 then dead = true end
      if mode == 'h' and now - at > 20 * period then dead = true end
    end
  end
  if dead then
    redis.call('ZREM', awardsKey, key)
    redis.call('HDEL', valuesKey, key)
  else
    table.insert(keep, { key = key, kind = kind, v = v, hi = hi, lo = lo, mode = mode })
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
      redis.call('ZREM', awardsKey, e.key)
      redis.call('HDEL', valuesKey, e.key)
    else
      table.insert(kept, e)
    end
  end
  redis.call('HSET', valuesKey, '~base', base_points)
  keep = kept
end

local score, ceiling, floor = base_points, base_points, base_points
for _, e in ipairs(keep) do
  score, ceiling, floor = score + e.v, ceiling + e.hi, floor + e.lo
end
score, ceiling, floor = round2(score), round2(ceiling), round2(floor)

if #keep > 0 or base_points ~= 0 then
  reg_key(base, awardsKey)
  reg_key(base, valuesKey)
end

-- The index holds bounds, since decay moves the score between writes: ix:score:<model> the most
-- it can be worth (for score >= X), ix:scoremin:<model> the least (for score <= X).
local ixScore, ixMin = shard .. ':ix:score:' .. model, shard .. ':ix:scoremin:' .. model
redis.call('ZADD', ixScore, ceiling, r.id)
redis.call('ZADD', ixMin, floor, r.id)
reg_index(base, ixScore)
reg_index(base, ixMin)

local grade = m.grades[1].name
for _, g in ipairs(m.grades) do
  if g.min ~= nil and g.min ~= cjson.null and score >= g.min then grade = g.name end
end
-- A contact never graded counts as being in the lowest grade.
local previous = redis.call('HGET', base, 'grade:' .. model) or m.grades[1].name
local changed = previous ~= grade
local eventId = nil
redis.call('HSET', base, 'score:' .. model, score, 'grade:' .. model, grade, 'scoredAt:' .. model, now)
if changed then
  redis.call('SREM', shard .. ':ix:grade:' .. model .. ':' .. previous, r.id)
  eventId = record(base, shard, r.id, now, {
    name = '$grade_changed', ts = now, source = r.source, chain = r.chain,
    props = cjson.encode({ model = model, from = previous, to = grade, score = score }),
  }, lim)
  redis.call('HSET', base, 'lastEventAt', now)
end
local ixGrade = shard .. ':ix:grade:' .. model .. ':' .. grade
redis.call('SADD', ixGrade, r.id)
reg_index(base, ixGrade)

return cjson.encode({
  score = score, ceiling = ceiling, floor = floor, grade = grade, previousGrade = previous,
  changed = changed, awarded = awarded, duplicates = duplicates, fieldRules = fieldResults,
  eventId = eventId or false,
})
