-- Deletes a consumer group of a shard stream if it exists (a script so Cluster clients route it by key).
-- KEYS[1] the stream
-- ARGV[1] group
-- Returns 1 when deleted, else 0.
local ok = pcall(redis.call, 'XGROUP', 'DESTROY', KEYS[1], ARGV[1])
if ok then return 1 end
return 0
