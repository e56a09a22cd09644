-- The winner decision of an A/B test with a rest share, one hash per test so that every worker
-- agrees: the first split fixes when and how the winner is decided (startedAt, decideAt, metric),
-- and the first decision stored is the decision (later ones are dropped).
-- KEYS[1] the test's decision hash
-- ARGV[1] now (epoch ms)
-- ARGV[2] decideAt (epoch ms) for a test that starts now
-- ARGV[3] metric
-- ARGV[4] the decision (JSON), or '' to only read
-- Answers the hash as a flat field/value list.
local key = KEYS[1]
if redis.call('HSETNX', key, 'decideAt', ARGV[2]) == 1 then
  redis.call('HSET', key, 'startedAt', ARGV[1], 'metric', ARGV[3])
end
if ARGV[4] ~= '' then redis.call('HSETNX', key, 'decision', ARGV[4]) end
return redis.call('HGETALL', key)
