-- After a batch of changes: drops the claim times of addresses whose contact now has them (a claim
-- time only guards claims of contacts not yet written), and releases addresses contacts no longer
-- have (replaced, or claimed for a change that failed), only while they still point at the contact.
-- A batch script of items that are not contacts (runBatch's width 3): e-mail addresses of the
-- shard, each address's in order.
-- KEYS[1] shard prefix: its e-mail index and the claim times (the index's key .. ':at')
-- KEYS[2] the shard's pin (Keys.shardScriptKeys): never a key; with the prefix, Redis answers TRYAGAIN while the shard's slot moves
-- ARGV[1] unused
-- ARGV[2] item count
-- ARGV[3...] per item: the e-mail, then the contact id and 'release', or '' and 'written'
-- Answers per item: for a release 1 when the address was removed, else 0; 1 for a claim time.
--- @include "contact_keys"
--- @include "batch"
local index = KEYS[1] .. SHARD_KEY.index .. IX.email
local at = index .. ':at'

-- Claim times are dropped once at the end (one HDEL, not one per item).
local written = {}
local function settle(email, id, kind)
  if kind == 'written' then
    written[#written + 1] = email
    return 1
  end
  if redis.call('HGET', index, email) ~= id then return 0 end
  redis.call('HDEL', at, email)
  return redis.call('HDEL', index, email)
end
local argv, start = batch_items()
local answers = {}
for i = 1, tonumber(ARGV[2]) do
  local item = start + 3 * i - 3
  answers[i] = settle(argv[item], argv[item + 1], argv[item + 2])
end
if #written > 0 then redis.call('HDEL', at, unpack(written)) end
return answers
