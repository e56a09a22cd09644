-- KEYS[1] e-mail index (hash e-mail -> contact id). ARGV email, id, force ('1' takes it over).
-- Returns the owner after the call: the id when claimed, another id on conflict.
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] and ARGV[3] ~= '1' then return owner end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
