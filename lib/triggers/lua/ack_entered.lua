-- Acknowledges entries of a Contact Trigger whose execution finished, and counts the contacts they
-- brought into its journey (lib/analytics). Only entries still pending count: an ack repeated after
-- a lost reply counts nothing more.
-- KEYS[1] shard prefix
-- KEYS[2] the shard's pin (Keys.shardScriptKeys): never a key; with the prefix, Redis answers TRYAGAIN while the shard's slot moves
-- ARGV[1] consumer group (the trigger)
-- ARGV[2] JSON {day, ttlMs, fields}: the counters to add the acknowledged entries to
-- ARGV[3...] log entry ids
-- Returns how many entries were acknowledged.
--- @include "contact_keys"
--- @include "analytics"
local shard = KEYS[1]
local acked = redis.call('XACK', shard .. SHARD_KEY.log, ARGV[1], unpack(ARGV, 3))
local c = cjson.decode(ARGV[2])
count_day(shard, c, c.fields, acked)
return acked
