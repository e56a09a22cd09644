-- KEYS[1] e-mail index. Removes ARGV[1] (and its claim time) only while it still points at contact ARGV[2].
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1] .. ':at', ARGV[1])
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
