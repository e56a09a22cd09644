-- Leases the schedule entries that are due, so one consumer fires each: their score moves to the
-- lease end; a consumer that dies leaves them due again when the lease runs out.
-- KEYS[1] the schedule (a shard zset: contact id -> fire time)
-- ARGV[1] now
-- ARGV[2] lease end
-- ARGV[3] limit
-- Returns the leased entries (id, fire time, ...).
local due = KEYS[1]
local items = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #items, 2 do redis.call('ZADD', due, ARGV[2], items[i]) end
return items
