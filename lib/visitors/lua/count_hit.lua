-- Counts a request in a fixed window (rate limits): the counter lives one window.
-- Not guarded: a resend after a lost reply counts the request twice in its window, which at worst
-- refuses a request early in that window once; a replay guard would cost more than the counter.
-- KEYS[1] counter
-- ARGV[1] window (ms)
-- Returns the count in the current window, this request included.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
