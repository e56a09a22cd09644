-- Removes an e-mail address (and its claim time) only while it still points at the contact.
-- KEYS[1] e-mail index
-- KEYS[2] shard prefix of the index (not read: declared so that Redis answers TRYAGAIN while the
--         shard's slot moves, as the script also touches the claim times)
-- ARGV[1] e-mail
-- ARGV[2] contact id
-- Returns 1 when removed, else 0.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1] .. ':at', ARGV[1])
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
