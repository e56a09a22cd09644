-- Ties an anonymous browser visitor to a contact, and never to a second one: the one decision of
-- an identification. Safe to repeat with the same contact (it returns what is still to merge).
-- KEYS[1] visitor key (hash: contact, linkedAt, seen)
-- KEYS[2] visitor history (list of event JSON)
-- ARGV[1] contact id
-- ARGV[2] now (epoch ms)
-- ARGV[3] how long the tie lasts after the visitor's last event (ms)
-- Returns {'conflict', other contact id} when tied to another contact, else {'ok', history...}.
local vkey, hkey, id = KEYS[1], KEYS[2], ARGV[1]
local contact = redis.call('HGET', vkey, 'contact')
if contact and contact ~= id then return { 'conflict', contact } end
if not contact then redis.call('HSET', vkey, 'contact', id, 'linkedAt', ARGV[2]) end
redis.call('HSET', vkey, 'seen', ARGV[2])
redis.call('PEXPIRE', vkey, ARGV[3])
local out = { 'ok' }
for _, e in ipairs(redis.call('LRANGE', hkey, 0, -1)) do table.insert(out, e) end
return out
