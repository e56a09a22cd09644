-- Creates a consumer group on a shard stream (creating the stream too) unless it exists; an
-- existing group may skip to the end of the stream. Run as a script so that Redis Cluster
-- clients route it by its key (XGROUP's key is not where clients look for one).
-- KEYS[1] the stream
-- ARGV[1] group
-- ARGV[2] start id ('$' or '0')
-- ARGV[3] '1': an existing group skips the backlog, '0': it keeps its position
-- Returns 1 when created, else 0.
local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM')
if ok then return 1 end
if not string.find(tostring(err), 'BUSYGROUP') then return redis.error_reply(tostring(err)) end
if ARGV[3] == '1' then redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], '$') end
return 0
