-- The decay arithmetic of lib/scoring/decay.ts (awardValue, roundScore), which the parity test
-- (test/lib/parity.test.ts) holds equal to it.
--- @include "decay"

-- An award's value at `now` from its stored form "points|mode|periodMs" and its time: value,
-- ceiling and floor (the most and least it can be worth from now on), mode and period. Expired at
-- exactly at + period; halved every period.
local function award_value(enc, at, now)
  local points, mode, period = string.match(enc, '^([^|]+)|(%a)|(%d+)$')
  points, period = tonumber(points), tonumber(period)
  local v = points
  if mode == DECAY_MODE.expire then
    if now >= at + period then v = 0 end
  elseif mode == DECAY_MODE.halfLife then
    local age = now - at
    if age < 0 then age = 0 end
    v = points * math.pow(0.5, age / period)
  else
    return v, v, v, mode, period
  end
  return v, math.max(v, 0), math.min(v, 0), mode, period
end

-- A score rounded to 2 decimals, never -0.
local function round_score(x)
  local y = math.floor(x * 100 + 0.5) / 100
  if y == 0 then return 0 end
  return y
end

-- A number as Redis writes a number argument of redis.call ("%.17g"), or as tostring writes it
-- ("%.14g"): a whole number (0 aside: it may be -0) below 1e14 is the same text written with %d,
-- which skips libc's exact decimal printer (its share of redis-server's time was about 6 % in a
-- batch of different contacts). Any other number is returned as it is, for Redis or Lua to write.
-- A call writes the same whole numbers again and again (scores, sums, award counts, times): the
-- first 1,000 texts are remembered for the call, a lookup instead of printf (about 3 % of Redis's
-- instructions per item of a batch of different contacts scored again).
local whole_texts, whole_text_count = {}, 0
local function number_text(x)
  if x ~= 0 and x == math.floor(x) and x > -1e14 and x < 1e14 then
    local text = whole_texts[x]
    if text then return text end
    text = string.format('%d', x)
    if whole_text_count < 1000 then
      whole_texts[x], whole_text_count = text, whole_text_count + 1
    end
    return text
  end
  return x
end
