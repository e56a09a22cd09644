-- Batch scripts (ContactStore.runBatch): KEYS[1] the shard prefix, ARGV[1] what the items share,
-- ARGV[2] the item count, then per item: its argument count, its contact's id as encoded in key
-- names (lib/keys.ts encodeKeyPart; the script builds the base key, KEYS[1] .. SHARD_KEY.contact
-- .. id, so the call carries no prefix per item) and its arguments; or ARGV[3] the same values as
-- one JSON array (runBatch's `packed`: JSON starts with '[', a count never does). A contact's items
-- come one after another. Runs fn(base, args) per item and answers the array of the answers, each
-- a flat array (no JSON: encoding costs more than the item's own commands). An item's error ({err =
-- ...} returned, or raised) is its own answer and the other items go on. The optional flush() runs
-- when the items of a contact end, for scripts that keep a contact's state across its items and
-- write it once. With `repeats` (read-only scripts whose answer depends on the contact alone), a
-- contact's later items answer 0: "as the item before" (runBatch's `repeats`), so the contact is
-- read and sent once. With runBatch's `lastApart` (packed), item i's last argument is ARGV[3 + i],
-- fn's third argument: fn(base, args, last). With `in_place`, fn(base, argv, o, last) reads item
-- argument k at argv[o + k], where it was decoded: no table per item (a bulk upsert has thousands).
--- @include "contact_keys"

-- The items' values and where the first item starts: ARGV from 3, or ARGV[3] decoded (once per call).
-- Items that are not contacts (runBatch's `width`) have no count or contact id: item i's values start
-- at start + (i - 1) * width.
local batch_argv, batch_start = nil, nil
local function batch_items()
  if not batch_argv then
    batch_argv, batch_start = ARGV, 3
    if string.sub(ARGV[3] or '', 1, 1) == '[' then batch_argv, batch_start = cjson.decode(ARGV[3]), 1 end
  end
  return batch_argv, batch_start
end

-- each_item, as above.
local function each_item(fn, flush, repeats, in_place)
  local out, last, base = {}, nil, nil
  local argv, at = batch_items()
  local apart = batch_start == 1 and ARGV[4] ~= nil
  local contacts = KEYS[1] .. SHARD_KEY.contact
  for i = 1, tonumber(ARGV[2]) do
    local count, id = tonumber(argv[at]), argv[at + 1]
    if flush and last and id ~= last then flush() end
    if id ~= last then base = contacts .. id end
    if repeats and id == last then
      out[i] = 0
    else
      local last_arg = apart and ARGV[3 + i] or nil
      local ok, answer
      if in_place then
        ok, answer = pcall(fn, base, argv, at + 1, last_arg)
      else
        ok, answer = pcall(fn, base, { unpack(argv, at + 2, at + 1 + count) }, last_arg)
      end
      if not ok then
        if type(answer) == 'table' and answer.err then answer = { err = answer.err } else answer = { err = tostring(answer) } end
      end
      out[i] = answer
    end
    last = id
    at = at + 2 + count
  end
  if flush and last then flush() end
  return out
end

-- For read-only scripts whose answer is one character per contact: runs fn(base) once per contact
-- and answers one string, a character per item (a contact's later items repeat it), with no table
-- or pcall per item (an error fails the call). runBatch reads answer k as the string's character k.
local function item_codes(fn)
  local argv, at = batch_items()
  local out, last, code, count = {}, nil, nil, tonumber(ARGV[2])
  local contacts = KEYS[1] .. SHARD_KEY.contact
  for i = 1, count do
    local id = argv[at + 1]
    if id ~= last then code = fn(contacts .. id) end
    out[i] = code
    last = id
    at = at + 2 + tonumber(argv[at])
  end
  return table.concat(out)
end
