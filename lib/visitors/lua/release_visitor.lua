-- Clears what a visitor still holds for a contact: its merged history, or (the contact erased)
-- the visitor itself, so that it starts over as anonymous. Only while tied to that contact.
-- KEYS[1] visitor key
-- KEYS[2] visitor history
-- ARGV[1] contact id
-- ARGV[2] 'merged' or 'erased'
-- Returns 1 when it cleared something of that contact's, else 0.
if redis.call('HGET', KEYS[1], 'contact') ~= ARGV[1] then return 0 end
if ARGV[2] == 'erased' then redis.call('DEL', KEYS[1], KEYS[2]) else redis.call('DEL', KEYS[2]) end
return 1
