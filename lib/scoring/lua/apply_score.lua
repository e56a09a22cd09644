-- Scores contacts atomically: adds event awards (idempotent by award key), applies field rules,
-- prunes dead awards, computes the decayed score, keeps the score indexes and the grade, and
-- records $grade_changed when the grade moves.
-- A batch script (each_item).
-- KEYS[1] shard prefix
-- KEYS[2] replay guard of the call (replay_guard.lua)
-- ARGV[1] JSON of what the items share: {now, model, awardValues [the encoded award value of each
--         rule; '' for field rules], fieldRules [{index, key, points, cond}], grades [{name, min}]
--         (ascending; the first has no min), maxAwards, limits, source, chain}
-- ARGV[2] item count
-- ARGV[3...] per item: its argument count (1), encoded id (batch.lua), then one tab-separated argument: id,
--         source and chain ('' for the shared ones), the event's time ('' for none), then per
--         award its rule number (1-based) and award key
-- Answers per item one tab-separated string: score, grade, previous grade, 1 when the grade
-- changed else 0, the $grade_changed event id or '', the awarded rule numbers ("-<number>:<points>"
-- for a field rule's stored points withdrawn) and the duplicate ones (space-separated), and 1 or 0
-- per field rule. One string costs less to build, send and parse than nested arrays.
--- @include "contact_keys"
--- @include "value_test"
--- @include "decay"
--- @include "award_value"
--- @include "events"
--- @include "batch"
--- @include "replay_guard"
local shard, guard = KEYS[1], KEYS[2]
local replayed = replayed_answer(shard, guard)
if replayed then return replayed end
-- The log's entries of $grade_changed are counted once, at the end.
defer_log_trims()
local m = cjson.decode(ARGV[1])
local now, model, lim = m.now, m.model, m.limits
-- now as redis.call writes it, written once for the call (number_text).
local nowText = number_text(now)
local ixScore, ixMin = shard .. SHARD_KEY.index .. IX.score .. model, shard .. SHARD_KEY.index .. IX.scoreFloor .. model
-- The values hash fields read first for every item: the running sums and each field rule's award.
local firstReads = { '~cache' }
for _, f in ipairs(m.fieldRules) do table.insert(firstReads, f.key) end

-- The model's key suffixes and core hash fields, named once for the call (not per contact).
local valuesSuffix, awardsSuffix = SUFFIX.scoreValues .. ':' .. model, SUFFIX.scoreAwards .. ':' .. model
local scoreField, gradeField, scoredAtField = HP.score .. model, HP.grade .. model, HP.scoredAt .. model

-- The core hash fields read first for every contact: its id, its grade and each field rule's field
-- (one HMGET: a command per field rule would cost more than the rule).
local coreReads = { 'id', gradeField }
for _, f in ipairs(m.fieldRules) do
  if f.cond.core then table.insert(coreReads, f.cond.field) else table.insert(coreReads, HP.field .. f.cond.field) end
end

-- The lowest grade's min is JSON null: nil, tested once per grade and item as such.
for _, g in ipairs(m.grades) do
  if g.min == cjson.null then g.min = nil end
end

-- Field rules: each condition's test (value_test, from lib/segments/operators.ts operatorPlan), built
-- once per call; a value it cannot tell about (see value_test) does not meet the condition.
for _, f in ipairs(m.fieldRules) do f.test = value_tester(f.cond.c, f.cond.time, now) end

-- "~cache" (see load) as flush writes it: MessagePack, true then the nine values (nil for none),
-- which cmsgpack reads back in C, with no pattern or strtod per contact. Format 3 wrote it as text,
-- nine parts joined by "|", none empty (read as such until the contact is scored again).
local CACHE_PACKED = string.byte(cmsgpack.pack(true))
local CACHE_PARTS = '^' .. string.rep('([^|]+)|', 8) .. '([^|]+)$'

-- The nine values of a "~cache" text (format 3), as numbers (nil for "-").
local function cache_text_values(text)
  local f = { string.match(text, CACHE_PARTS) }
  if #f == 0 then for part in string.gmatch(text, '[^|]+') do table.insert(f, part) end end
  return tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5]), tonumber(f[6]),
    tonumber(f[7]), tonumber(f[8]), tonumber(f[9])
end

-- Each command on a contact's keys costs microseconds (redis.call, keys cold in memory), more
-- than an item's own arithmetic. So the items of one contact (runBatch keeps them together, in order) share its state: it
-- is read once (core hash, running sums, field rule awards and conditions), each item updates it
-- and answers as if scored alone, and the writes (sums, award values, score indexes, score and
-- grade) happen once when the next contact starts, the score and grade indexes once per call.
-- Only an award's ZADD NX (idempotency) and a grade change's event are per item.
local cur = nil

-- awards: the contact's first item's awards, flat (rule number, key, ...), awardCount of them.
-- Their keys are read with the values hash: an award key the hash holds is given already (a live
-- award's value is written after its ZADD, and both go together), so the item needs no ZADD NX to
-- know it is a duplicate (the day's award of a contact's later visits). A key the hash lacks still
-- goes through ZADD NX.
local function load(base, id, awards, awardCount)
  local core = redis.call('HMGET', base, unpack(coreReads))
  if not core[1] then return { base = base, missing = true } end
  local valuesKey = base .. valuesSuffix
  local reads = firstReads
  if awardCount > 0 then
    reads = { unpack(firstReads) }
    for k = 1, awardCount do reads[#firstReads + k] = awards[2 * k] end
  end
  local first = redis.call('HMGET', valuesKey, unpack(reads))
  local awardsKey = base .. awardsSuffix
  local st = {
    base = base, id = id, awardsKey = awardsKey, valuesKey = valuesKey,
    grade = core[2], storedGrade = core[2], present = {}, fieldOk = {}, newValues = {}, known = {},
    core = core,
    sum = 0, hi = 0, lo = 0, n = 0, nextExpiry = math.huge, hpos = 0, hneg = 0, valid = false,
  }
  for i = 1, #m.fieldRules do st.present[i] = first[i + 1] end
  for k = 1, awardCount do
    if first[#firstReads + k] then st.known[awards[2 * k]] = true end
  end
  -- A contact never graded by the model whose awards set does not exist has no awards: its sums
  -- start at zero instead of a full pass (which would read back only what its first item adds).
  -- fresh makes that item end the way the full pass would (see fresh_pass_needed).
  if not first[1] and not core[2] and redis.call('EXISTS', awardsKey) == 0 then
    st.valid, st.fresh, st.reindex, st.cacheDirty = true, true, true, true
  end
  -- "~cache": the sums of the live awards that do not halve (score, ceiling, floor), the award
  -- count, the next instant an award expires (or a halving one is worth pruning), and for
  -- halving awards (one half-life) their positive and negative sums at the instant written.
  -- Until that next instant the sums only move by new awards and by the halving (one factor for
  -- all): no need to read and re-add every award (the full pass).
  local cache = first[1]
  if cache then
    local expiry, halvedAt, hpos, hneg
    if string.byte(cache) == CACHE_PACKED then
      local _
      _, st.sum, st.hi, st.lo, st.n, expiry, st.halfLife, halvedAt, hpos, hneg = cmsgpack.unpack(cache)
    else
      st.sum, st.hi, st.lo, st.n, expiry, st.halfLife, halvedAt, hpos, hneg = cache_text_values(cache)
    end
    st.nextExpiry = expiry or math.huge
    if st.halfLife then
      local factor = math.pow(0.5, (now - halvedAt) / st.halfLife)
      st.hpos, st.hneg = hpos * factor, hneg * factor
    end
    st.valid = now < st.nextExpiry
    -- The score indexes hold the bounds as the cache was written, before any halving since (flush
    -- rewrites the cache whenever it writes an index).
    st.indexedHi, st.indexedLo = round_score(st.hi + hpos), round_score(st.lo + hneg)
  end
  return st
end

-- Whether the full pass prunes an award of this kind and value (once-per-contact and field awards
-- stay: their key keeps them from being given again).
local function worthless(kind, v, at, mode, period)
  if kind == AWARD.oncePerContact or kind == AWARD.field then return false end
  return (mode == DECAY_MODE.expire and v == 0) or (mode == DECAY_MODE.halfLife and now - at > DECAY.halfLivesKept * period)
end

-- Adds (sign 1) or removes (sign -1) an award's value to the running sums.
local function adjust(st, enc, at, sign, key)
  local v, h, l, mode, period = award_value(enc, at, now)
  if st.fresh then
    -- What makes a fresh contact's full pass differ from its running sums (fresh_pass_needed).
    if worthless(string.sub(key, 1, 2), v, at, mode, period) then st.prunable = true end
    if mode == DECAY_MODE.halfLife or v ~= math.floor(v) then st.inexact = true end
  end
  if mode == DECAY_MODE.halfLife then
    -- A second half-life, or an award dated ahead (its value is held until then): full pass.
    if at > now or (st.halfLife and st.halfLife ~= period) then st.valid = false end
    st.halfLife, st.hpos, st.hneg = period, st.hpos + sign * h, st.hneg + sign * l
    if at + DECAY.halfLivesKept * period < st.nextExpiry then st.nextExpiry = at + DECAY.halfLivesKept * period end
  else
    if mode == DECAY_MODE.expire and v ~= 0 and at + period < st.nextExpiry then st.nextExpiry = at + period end
    st.sum, st.hi, st.lo = st.sum + sign * v, st.hi + sign * h, st.lo + sign * l
  end
  st.n = st.n + sign
  st.cacheDirty = true
end

local function add_award(st, key, at, enc)
  table.insert(st.newValues, key)
  table.insert(st.newValues, enc)
  adjust(st, enc, at, 1, key)
end

local function write_values(st)
  if #st.newValues > 0 then redis.call('HSET', st.valuesKey, unpack(st.newValues)) end
  st.newValues = {}
end

-- Full pass: every award re-read and re-added. Prunes awards that are worth nothing any more,
-- except once-per-contact and field awards, whose key must stay to keep them from being given
-- again. Over the cap, the oldest non-decaying awards fold into "~base" and the oldest decaying
-- ones are dropped.
local function full_pass(st)
  write_values(st)
  local entries = redis.call('ZRANGE', st.awardsKey, 0, -1, 'WITHSCORES')
  local stored = {}
  local flat = redis.call('HGETALL', st.valuesKey)
  for i = 1, #flat, 2 do stored[flat[i]] = flat[i + 1] end
  -- One pass: each award's value now (parsed once), and the dead ones removed.
  local keep, dead = {}, {}
  -- The sums can be kept when halving awards share one half-life and none is dated ahead.
  local cacheable = true
  local halfLife, nextExpiry = nil, math.huge
  for i = 1, #entries, 2 do
    local key, at = entries[i], tonumber(entries[i + 1])
    local enc = stored[key]
    local kind = string.sub(key, 1, 2)
    local gone = enc == nil
    local v, h, l, mode, period
    if enc then
      v, h, l, mode, period = award_value(enc, at, now)
      gone = worthless(kind, v, at, mode, period)
    end
    if gone then
      table.insert(dead, key)
    else
      if mode == DECAY_MODE.halfLife then
        if at > now or (halfLife and halfLife ~= period) then cacheable = false end
        halfLife = period
        if at + DECAY.halfLivesKept * period < nextExpiry then nextExpiry = at + DECAY.halfLivesKept * period end
      end
      if mode == DECAY_MODE.expire and v ~= 0 and at + period < nextExpiry then nextExpiry = at + period end
      table.insert(keep, { key = key, kind = kind, v = v, hi = h, lo = l, mode = mode })
    end
  end
  local base_points = tonumber(stored['~base'] or '0')
  local over = #keep - m.maxAwards
  if over > 0 then
    local kept = {}
    for _, e in ipairs(keep) do
      if over > 0 and e.kind ~= AWARD.oncePerContact and e.kind ~= AWARD.field then
        over = over - 1
        if e.mode == DECAY_MODE.none then base_points = base_points + e.v end
        table.insert(dead, e.key)
      else
        table.insert(kept, e)
      end
    end
    st.newValues = { '~base', base_points }
    keep = kept
  end
  -- One ZREM and one HDEL for all of them (in slices: unpack has a stack limit).
  for _, key in ipairs(dead) do st.known[key] = nil end
  for i = 1, #dead, 1000 do
    local slice = { unpack(dead, i, math.min(i + 999, #dead)) }
    redis.call('ZREM', st.awardsKey, unpack(slice))
    redis.call('HDEL', st.valuesKey, unpack(slice))
  end
  st.sum, st.hi, st.lo, st.hpos, st.hneg = base_points, base_points, base_points, 0, 0
  for _, e in ipairs(keep) do
    if e.mode == DECAY_MODE.halfLife then
      st.hpos, st.hneg = st.hpos + e.hi, st.hneg + e.lo
    else
      st.sum, st.hi, st.lo = st.sum + e.v, st.hi + e.hi, st.lo + e.lo
    end
  end
  st.n, st.halfLife, st.nextExpiry = #keep, halfLife, nextExpiry
  st.valid, st.cacheDirty, st.reindex = cacheable, cacheable, true
  if not cacheable then redis.call('HDEL', st.valuesKey, '~cache') end
end

-- Score index entries (score, id, ...) of the call, written once at its end; and the grade index
-- moves, by grade name the ids that leave it and those that enter it (a contact's net move over its
-- items: from its stored grade to its last one).
local ceilings, floors = {}, {}
local gradeLeaves, gradeEnters = {}, {}
local function note_grade_move(st)
  if st.grade == st.storedGrade then return end
  if st.storedGrade then
    gradeLeaves[st.storedGrade] = gradeLeaves[st.storedGrade] or {}
    table.insert(gradeLeaves[st.storedGrade], st.id)
  end
  gradeEnters[st.grade] = gradeEnters[st.grade] or {}
  table.insert(gradeEnters[st.grade], st.id)
end
local function write_indexes()
  if #ceilings > 0 then redis.call('ZADD', ixScore, unpack(ceilings)) end
  if #floors > 0 then redis.call('ZADD', ixMin, unpack(floors)) end
  -- A contact leaves one grade's set and enters another's: the order of the sets does not matter.
  for command, moves in pairs({ SREM = gradeLeaves, SADD = gradeEnters }) do
    for grade, ids in pairs(moves) do
      local key = shard .. SHARD_KEY.index .. IX.grade .. model .. ':' .. grade
      for i = 1, #ids, 1000 do redis.call(command, key, unpack(ids, i, math.min(i + 999, #ids))) end
    end
  end
end

-- The contact's deferred writes.
local function flush()
  local st = cur
  if not st or st.missing or not st.scored then return end
  -- The index holds bounds, since decay moves the score between writes: ix:score:<model> the
  -- most it can be worth (for score >= X), ix:scoremin:<model> the least (for score <= X).
  -- A bound equal to the one written with the cache is in its index already (positive points
  -- move the ceiling only, negative ones the floor); one that moved, by points or by halving, is
  -- written, and the cache with it, so that the next call compares with what the index holds. The
  -- shard's index writes of the whole call go in one ZADD each (write_indexes); a contact without
  -- sums yet is new to them.
  local ceilingMoved = st.reindex or st.ceiling ~= st.indexedHi
  local floorMoved = st.reindex or st.floor ~= st.indexedLo
  if ceilingMoved then
    table.insert(ceilings, number_text(st.ceiling))
    table.insert(ceilings, st.id)
  end
  if floorMoved then
    table.insert(floors, number_text(st.floor))
    table.insert(floors, st.id)
  end
  if (ceilingMoved or floorMoved) and st.valid then st.cacheDirty = true end
  if st.cacheDirty then
    -- Without a halving award the halving sums are 0 (load, full_pass).
    local expiry = nil
    if st.nextExpiry ~= math.huge then expiry = st.nextExpiry end
    table.insert(st.newValues, '~cache')
    table.insert(st.newValues, cmsgpack.pack(true, st.sum, st.hi, st.lo, st.n, expiry, st.halfLife, st.halfLife and now or nil, st.hpos, st.hneg))
  end
  write_values(st)
  if st.gradeChanged then
    redis.call('HSET', st.base, scoreField, st.scoreText, gradeField, st.grade, scoredAtField, nowText, 'lastEventAt', nowText)
  else
    redis.call('HSET', st.base, scoreField, st.scoreText, gradeField, st.grade, scoredAtField, nowText)
  end
  note_grade_move(st)
end

-- A space-separated list with one more entry (the item's awarded and duplicate rules: strings
-- built in place cost less than a table per list and item).
local function listed(list, entry)
  if list == '' then return entry end
  return list .. ' ' .. entry
end

-- A fresh contact (load) skipped the full pass its first item would run: the running sums are what
-- the pass would compute, unless it would prune an award just given (dated too long ago), or sum
-- more than two values that are not whole numbers in another order (the awards set's, not the
-- item's: floating-point addition of three or more is not exact in every order).
local function fresh_pass_needed(st)
  st.fresh = false
  return st.prunable or (st.inexact and st.n > 2)
end

-- One item: awards the flat list (rule number as sent, award key, ...) of awardCount awards, given
-- at `at` (atText: the time as sent, for ZADD: the same score without writing the number again).
local function score_item(st, source, chain, at, atText, awards, awardCount)
  local awarded, duplicates = '', ''
  for k = 1, awardCount do
    local index, key = awards[2 * k - 1], awards[2 * k]
    -- NX: an award key given once is never given again (webhook retries, replays). Keys this
    -- call has seen (the day's award of a contact's second visit) need no ZADD to know that.
    if st.known[key] or redis.call('ZADD', st.awardsKey, 'NX', atText, key) == 0 then
      duplicates = listed(duplicates, index)
      st.known[key] = true
    else
      st.known[key] = true
      add_award(st, key, at, m.awardValues[tonumber(index)])
      awarded = listed(awarded, index)
    end
  end

  local fieldResults = ''
  for i, f in ipairs(m.fieldRules) do
    -- Nothing in the batch writes fields: a condition holds for all of a contact's items or none.
    local ok = st.fieldOk[i]
    if ok == nil then
      ok = f.test(st.core[i + 2]) == true
      st.fieldOk[i] = ok
    end
    local present = st.present[i]
    fieldResults = fieldResults .. (ok and '1' or '0')
    if ok and not present then
      redis.call('ZADD', st.awardsKey, nowText, f.key)
      local enc = f.points .. '|' .. DECAY_MODE.none .. '|0'
      add_award(st, f.key, now, enc)
      st.present[i] = enc
      awarded = listed(awarded, f.index)
    elseif not ok and present then
      -- Withdrawn while the condition no longer holds.
      redis.call('ZREM', st.awardsKey, f.key)
      redis.call('HDEL', st.valuesKey, f.key)
      adjust(st, present, now, -1, f.key)
      st.present[i] = nil
      awarded = listed(awarded, '-' .. f.index .. ':' .. string.match(present, '^([^|]+)|'))
    end
  end

  if st.fresh and fresh_pass_needed(st) then st.valid = false end
  if not (st.valid and st.n <= m.maxAwards) then full_pass(st) end
  local score = round_score(st.sum + st.hpos + st.hneg)
  st.ceiling, st.floor = round_score(st.hi + st.hpos), round_score(st.lo + st.hneg)

  local grade = m.grades[1].name
  for _, g in ipairs(m.grades) do
    if g.min and score >= g.min then grade = g.name end
  end
  -- A contact never graded counts as being in the lowest grade; a stored grade is in its index.
  local previous = st.grade or m.grades[1].name
  local changed = previous ~= grade
  local eventId = nil
  if changed then
    eventId = record(st.base, shard, st.id, now, {
      name = '$grade_changed', ts = now, source = source, chain = chain,
      props = cjson.encode({ model = model, from = previous, to = grade, score = score }),
    }, lim)
    st.gradeChanged = true
  end
  -- The grade index follows at the end of the call (note_grade_move, write_indexes).
  local scoreText = number_text(score)
  st.grade, st.scoreText, st.scored = grade, scoreText, true

  return scoreText .. '\t' .. grade .. '\t' .. previous .. '\t' .. (changed and '1' or '0') .. '\t' ..
    (eventId or '') .. '\t' .. awarded .. '\t' .. duplicates .. '\t' .. fieldResults
end

-- An item's one tab-separated argument: id, source, chain, the event's time, then per award its
-- rule number and key (read with one match and a gmatch: cheaper than a split into a table).
local ITEM_PARTS = '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)(.*)$'
-- The item's awards, flat (rule number, key, ...): one table for the call, refilled per item.
local itemAwards = {}

local answers = each_item(function(base, argv, o)
  local id, source, chain, atText, rest = string.match(argv[o + 1], ITEM_PARTS)
  if source == '' then source = m.source end
  if chain == '' then chain = m.chain end
  local awardCount = 0
  for index, key in string.gmatch(rest, '\t([^\t]*)\t([^\t]*)') do
    itemAwards[2 * awardCount + 1], itemAwards[2 * awardCount + 2] = index, key
    awardCount = awardCount + 1
  end
  if not cur or cur.base ~= base then cur = load(base, id, itemAwards, awardCount) end
  if cur.missing then return redis.error_reply('NOT_FOUND contact does not exist') end
  return score_item(cur, source, chain, tonumber(atText), atText, itemAwards, awardCount)
end, flush, false, true)
write_indexes()
trim_deferred_log(shard, lim)
return guarded_answer(shard, guard, answers)
