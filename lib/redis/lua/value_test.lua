-- Value conditions as lib/segments/operators.ts compileOperator decides them, on a value stored
-- as a typed custom field ("<FIELD_TYPE code>:<text>") or a core attribute, with the operands
-- lib/segments/operators.ts operatorPlan prepares. A value_tester test answers true, false, or nil
-- when it cannot tell exactly what TypeScript would (Segment Filter then decides in TypeScript; a
-- Lead Score field rule does not hold): a text with bytes outside ASCII when ignoring case
-- (JavaScript lower-cases all of Unicode), a date not written as toISOString writes it (luxon
-- reads many forms, some in the process's time zone), a number not written in plain decimals
-- (JavaScript's Number reads hex, binary, Unicode spaces...).
--- @include "operators"
--- @include "field_types"

local VALUE_TEXT, VALUE_NUMBER, VALUE_BOOLEAN, VALUE_TIME = 1, 2, 3, 4
-- The first byte of a typed number ("<FIELD_TYPE.number>:<text>").
local NUMBER_BYTE = string.byte(FIELD_TYPE.number)

-- toISOString's text of epoch ms (years 0 to 9999), or nil.
local function iso_text(ms)
  if not ms or ms ~= math.floor(ms) or ms < -62167219200000 or ms > 253402300799999 then return nil end
  local days = math.floor(ms / 86400000)
  local rest = ms - days * 86400000
  -- Civil date from days since 1970-01-01 (March-based years).
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(rest / 3600000),
    math.floor(rest / 60000) % 60, math.floor(rest / 1000) % 60, rest % 1000)
end

-- The value as compileOperator sees it: its kind and text, and its number for a number or a core
-- time (epoch ms; its text is toISOString's). nil when absent.
local function stored_value(stored, time)
  if not stored then return nil end
  if time then
    local ms = tonumber(stored)
    return VALUE_TIME, iso_text(ms), ms
  end
  if time == nil then return VALUE_TEXT, stored, nil end
  local code, text = string.sub(stored, 1, 1), string.sub(stored, 3)
  if code == FIELD_TYPE.number then return VALUE_NUMBER, text, tonumber(text) end
  if code == FIELD_TYPE.boolean then return VALUE_BOOLEAN, text == '1' and 'true' or 'false', nil end
  return VALUE_TEXT, text, nil
end

local function finite(x) return x ~= nil and x == x and x ~= math.huge and x ~= -math.huge end

-- Number(text) for a text in plain decimals (both languages round those alike); false when the
-- text holds no digit (Number gives NaN or Infinity); nil when it cannot tell.
local function decimal(text)
  if not string.find(text, '%d') then return false end
  if string.find(text, '^[+-]?%d*%.?%d*$') or string.find(text, '^[+-]?%d*%.?%d*[eE][+-]?%d+$') then
    if string.find(text, '^[+-]?%.?%d') then
      local x = tonumber(text)
      return finite(x) and x
    end
  end
  return nil
end

local DAYS_IN_MONTH = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- Epoch ms of "YYYY-MM-DDTHH:MM:SS.sssZ" or "YYYY-MM-DDTHH:MM:SSZ" (as luxon reads them); false
-- when the text holds no digit (not a date); nil for any other text.
local function iso_ms(text)
  if not string.find(text, '%d') then return false end
  local y, mo, d, h, mi, s, ms = string.match(text, '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)%.(%d%d%d)Z$')
  if not y then
    y, mo, d, h, mi, s = string.match(text, '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)Z$')
    ms = '0'
  end
  if not y then return nil end
  y, mo, d, h, mi, s, ms = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s), tonumber(ms)
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  local days = DAYS_IN_MONTH[mo]
  if days and mo == 2 and leap then days = 29 end
  if not days or d < 1 or d > days or h > 23 or mi > 59 or s > 59 then return nil end
  -- Days from 1970-01-01 (civil calendar, March-based years).
  local yy = mo <= 2 and y - 1 or y
  local era = math.floor(yy / 400)
  local yoe = yy - era * 400
  local mp = (mo + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local epochDays = era * 146097 + doe - 719468
  return ((epochDays * 24 + h) * 60 + mi) * 60000 + s * 1000 + ms
end

-- The text compared when ignoring case, or nil when it has bytes outside ASCII.
local function case_text(text, c)
  if not c.ic then return text end
  if string.find(text, '[\128-\255]') then return nil end
  return string.lower(text)
end

-- Equality with one operand (operators.ts equalsTo): numbers by number, booleans by their text,
-- texts by text, or by instant when the operand starts with a date.
local function value_equals(kind, text, num, a, c)
  if kind == nil then return false end
  if kind == VALUE_NUMBER then return a.n ~= nil and num == a.n end
  if kind == VALUE_BOOLEAN then return text == a.t end
  if text == nil then return nil end
  local t = case_text(text, c)
  if t == a.t then return true end
  local undecided = t == nil
  if a.d ~= nil and string.find(text, '^%d%d%d%d%-%d%d%-%d%d') then
    local at = iso_ms(text)
    if at == a.d then return true end
    if at == nil then undecided = true end
  end
  if undecided then return nil end
  return false
end

-- The value as an ordered comparison reads it (operators.ts orderedValue): false when it has none.
local function ordered_value(kind, text, num, plan)
  if plan.kind == 'number' then
    if kind == VALUE_NUMBER then return num end
    if kind == VALUE_TEXT then return decimal(text) end
    return false
  end
  if kind == VALUE_TIME then return num end
  if kind == VALUE_TEXT then return iso_ms(text) end
  return false
end

local function negate(verdict)
  if verdict == nil then return nil end
  return not verdict
end

-- value_tester's test before its memo.
local function value_test_of(c, time, now)
  local op = c.op
  if op == OP.exists then return function(stored) return stored and true or false end end
  if op == OP.notExists then return function(stored) return not stored end end
  if op == OP.equals or op == OP.notEquals then
    local a, negated = c.a, op == OP.notEquals
    return function(stored)
      local kind, text, num = stored_value(stored, time)
      local verdict = value_equals(kind, text, num, a, c)
      if negated then return negate(verdict) end
      return verdict
    end
  end
  if op == OP['in'] or op == OP.notIn then
    local list, negated = c.list, op == OP.notIn
    return function(stored)
      local kind, text, num = stored_value(stored, time)
      local found = false
      for _, a in ipairs(list) do
        local hit = value_equals(kind, text, num, a, c)
        if hit then
          found = true
          break
        end
        if hit == nil then found = nil end
      end
      if negated then return negate(found) end
      return found
    end
  end
  if op == OP.contains or op == OP.notContains or op == OP.startsWith or op == OP.endsWith then
    local p = c.a.t
    local function has(t)
      if op == OP.startsWith then return string.sub(t, 1, #p) == p end
      if op == OP.endsWith then return #p <= #t and string.sub(t, -#p) == p end
      return string.find(t, p, 1, true) ~= nil
    end
    return function(stored)
      if not stored then return op == OP.notContains end
      local _, text = stored_value(stored, time)
      if text == nil then return nil end
      local t = case_text(text, c)
      if t == nil then return nil end
      if op == OP.notContains then return not has(t) end
      return has(t)
    end
  end
  local lo, hi = c.lo, c.hi
  local compare
  if op == OP.gt or op == OP.after then compare = function(x) return x > lo end
  elseif op == OP.gte then compare = function(x) return x >= lo end
  elseif op == OP.lt or op == OP.before then compare = function(x) return x < lo end
  elseif op == OP.lte then compare = function(x) return x <= lo end
  elseif op == OP.between then compare = function(x) return x >= lo and x <= hi end
  elseif op == OP.withinLastDays or op == OP.notWithinLastDays then
    -- Inclusive at both ends; notWithinLastDays holds for a present value that is not a date in the span.
    local from, within = now - c.span, op == OP.withinLastDays
    compare = function(x) return (x ~= false and x >= from and x <= now) == within end
  else
    error('value_test: no plan for the operator ' .. tostring(op))
  end
  local spans = op == OP.withinLastDays or op == OP.notWithinLastDays
  local numbers = c.kind == 'number'
  return function(stored)
    if not stored then return false end
    -- A core time or a typed number needs only its number (stored_value would also write a core
    -- time's ISO text): the value ordered_value answers for them, without the calls.
    local x
    if time then
      if numbers then x = false else x = tonumber(stored) end
    elseif time == false and string.byte(stored, 1) == NUMBER_BYTE then
      if numbers then x = tonumber(string.sub(stored, 3)) else x = false end
    else
      local kind, text, num = stored_value(stored, time)
      x = ordered_value(kind, text, num, c)
    end
    if x == nil then return nil end
    if x == false and not spans then return false end
    return compare(x)
  end
end

-- Distinct values whose verdicts a test remembers: a field of few values (a score, a stage, a
-- country) is tested once per value; one of a value per contact (an e-mail, a time) stops adding
-- to the memo once it is full.
local VALUE_MEMO_SIZE = 256
-- The memo's entry for "cannot tell" (nil is no table value).
local UNDECIDED = {}

-- The test of a plan on a value stored (false when absent), built once per call: it answers
-- true, false or nil (cannot tell). time: true for a core time, false for a typed custom field,
-- nil for another core attribute. now: epoch ms. Its verdict depends on the stored text alone,
-- so it is remembered per text for the call (a typed number's test took about 0.4 µs, a memo
-- hit is a table lookup).
local function value_tester(c, time, now)
  local test, memo, size = value_test_of(c, time, now), {}, 0
  return function(stored)
    if not stored then return test(stored) end
    local verdict = memo[stored]
    if verdict == nil then
      verdict = test(stored)
      if size < VALUE_MEMO_SIZE then
        size = size + 1
        memo[stored] = verdict == nil and UNDECIDED or verdict
      end
      return verdict
    end
    if verdict == UNDECIDED then return nil end
    return verdict
  end
end
