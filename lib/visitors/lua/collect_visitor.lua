-- Keeps the events of an anonymous browser visitor until it is identified: at most
-- maxEvents (the oldest go first), for ttlMs after its last event. A visitor already tied to a
-- contact keeps nothing: the caller records its events on that contact.
-- KEYS[1] visitor key (hash: contact, linkedAt, seen)
-- KEYS[2] visitor history (list of event JSON, oldest first)
-- ARGV[1] JSON {now, events (JSON texts), maxEvents, ttlMs, linkTtlMs}
-- Returns JSON {contact, pending (history a merge has not cleared yet)} for a tied visitor, else {kept}.
local vkey, hkey = KEYS[1], KEYS[2]
local r = cjson.decode(ARGV[1])
local contact = redis.call('HGET', vkey, 'contact')
if contact then
  redis.call('HSET', vkey, 'seen', r.now)
  redis.call('PEXPIRE', vkey, r.linkTtlMs)
  return cjson.encode({ contact = contact, pending = redis.call('LRANGE', hkey, 0, -1) })
end
for _, e in ipairs(r.events) do redis.call('RPUSH', hkey, e) end
redis.call('LTRIM', hkey, -r.maxEvents, -1)
redis.call('HSET', vkey, 'seen', r.now)
redis.call('PEXPIRE', vkey, r.ttlMs)
redis.call('PEXPIRE', hkey, r.ttlMs)
return cjson.encode({ kept = redis.call('LLEN', hkey) })
