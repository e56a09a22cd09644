-- Applies changes to contacts atomically, item by item, and logs an event per effective change; a
-- new contact logs one $contact_created {email?, timezone?, lifecycleStage?, fields?, tags?,
-- subscription?} with what it was created with, instead of an event per field and tag.
-- A batch script (each_item): a contact's items apply in their order.
-- KEYS[1] shard prefix
-- KEYS[2] replay guard of the call (replay_guard.lua)
-- ARGV[1] JSON {now, mode ('upsert'|'create'|'update'), source, chain (JSON text), limits, max {fields, tags}}
-- ARGV[2] item count
-- ARGV[3...] per item: its argument count, encoded id (batch.lua), then: contact id; '1', source and chain (own
--         context) or '0' (the shared one); e-mail, time zone, lifecycle stage, each '' (unchanged),
--         '\1' (cleared: no valid value holds a control character) or the value (read as it comes,
--         without a string.sub per value); subscription status, then its source, time (ms), the
--         status it may change from ('' any: a confirmation link turns only "pending" into
--         "subscribed"), '1' and the IP and user agent of an opt-in confirmation (proof of consent)
--         or '0' alone; or ''; the field count, then per field its name and encoded value ('' removes
--         it); the count of tags to add, then the tags; the count of tags to remove, then the tags
-- ARGV[4...] per item, in item order: the properties JSON of the $contact_created it logs when it
--         creates the contact (the caller builds it: what the change sets, as this script would,
--         without reading state a new contact cannot have); apart from ARGV[3], where its quotes
--         would be escaped and cost every item, new or not, their decoding (runBatch lastApart).
-- Answers per item the $contact_created id when it created the contact (a string: no table to build
-- and send per new contact), else {0, old e-mail or false, then per event logged its id, name and
-- properties JSON (as logged)}; NOT_FOUND
-- (update of a missing contact), EXISTS (create of an existing one) or LIMIT <what> <count> (the
-- contact would hold more fields or tags than max allows), before anything is written.
--- @include "field_types"
--- @include "contact_keys"
--- @include "events"
--- @include "batch"
--- @include "replay_guard"

local function json_or_empty(t)
  if t == nil or next(t) == nil then return '{}' end
  return cjson.encode(t)
end

-- Typed field values are stored as "<FIELD_TYPE code>:<text>" (a boolean's text is 1 or 0).
local NUMBER, BOOLEAN = string.byte(FIELD_TYPE.number), string.byte(FIELD_TYPE.boolean)
local function decode_value(enc)
  if not enc then return cjson.null end
  local kind, text = string.byte(enc), string.sub(enc, 3)
  if kind == NUMBER then return tonumber(text) end
  if kind == BOOLEAN then return text == '1' end
  return text
end

local shard, guard = KEYS[1], KEYS[2]
local replayed = replayed_answer(shard, guard)
if replayed then return replayed end
local r = cjson.decode(ARGV[1])
local now, lim, max = r.now, r.limits, r.max
-- Written as text once: redis.call formats a number argument with printf each time.
local now_text = string.format('%d', now)
local ATTRS = { 'email', 'timezone', 'lifecycleStage' }
-- The log's entries are counted once, at the end (every item logs at least one when it creates).
defer_log_trims()
-- Index keys by kind and value, built once per call.
local index_keys = { stage = {}, tag = {}, status = {} }
local function index_set(kind, value)
  local key = index_keys[kind][value]
  if not key then
    key = shard .. SHARD_KEY.index .. IX[kind] .. value
    index_keys[kind][value] = key
  end
  return key
end

-- The items' index writes, done once at the end (one command per index key, not per item):
-- index set -> contact id -> true (member) or false (not); a contact's last change wins.
local members, memberKeys, created = {}, {}, {}
local function index_member(kind, value, id, member)
  local key = index_set(kind, value)
  local ids = members[key]
  if not ids then
    ids = {}
    members[key] = ids
    memberKeys[#memberKeys + 1] = key
  end
  ids[id] = member
end

-- Fields and tags are fields of the core hash (HP.field .. name, HP.tag .. tag).
local function count_prefixed(keys, prefix)
  local n = 0
  for _, key in ipairs(keys) do
    if string.sub(key, 1, #prefix) == prefix then n = n + 1 end
  end
  return n
end

-- The item being applied: its contact, answer and core-hash writes; set and emit add to them
-- (defined once, not per item: a bulk upsert runs this for every contact). The writes and the
-- fields removed go in tables kept for the whole call, up to a count (no table grown per item).
local item_base, item_id, item_source, item_chain, answer
local writes, writeCount, removed, removedCount = {}, 0, {}, 0
local function set(key, value)
  writes[writeCount + 1] = key
  writes[writeCount + 2] = value
  writeCount = writeCount + 2
end
local function remove(key)
  removedCount = removedCount + 1
  removed[removedCount] = key
end
local function emit(name, props)
  local json = json_or_empty(props)
  local ev = { name = name, ts = now, props = json, source = item_source, chain = item_chain }
  answer[#answer + 1] = record(item_base, shard, item_id, now, ev, lim)
  answer[#answer + 1] = name
  answer[#answer + 1] = json
end

-- The item's attributes (ATTRS: nil unchanged, false cleared, else the value) and the hash fields
-- it reads (reads[6 ..] are the fields and tags it names, written below too), kept for the call.
local attrs = {}
-- Core-hash field names of fields and tags by name, made once per call (the items of a bulk upsert
-- name the same few: a table read instead of a new string per item).
local field_keys, tag_keys = {}, {}
local function hash_field(cache, prefix, name)
  local key = prefix .. name
  cache[name] = key
  return key
end
-- The item's tags being removed, and whether it had each tag it names (emptied per item).
local removing, hadTag = {}, {}
-- The $contact_created of the item, filled per item (log_event reads it at once).
local created_event = {}
local reads = { 'id', 'email', 'timezone', 'lifecycleStage', 'status' }

-- The item's arguments are read where they are (args[o + k], each_item's in_place: no table per item).
local answers = each_item(function(base, args, o, createdProps)
  local id, at = args[o + 1], o + 3
  local source, chain = r.source, r.chain
  if args[o + 2] == '1' then source, chain, at = args[o + 3], args[o + 4], o + 5 end
  for k = 1, #ATTRS do
    local attr = ATTRS[k]
    local a = args[at + k - 1]
    if a == '\1' then attrs[attr] = false elseif a ~= '' then attrs[attr] = a else attrs[attr] = nil end
  end
  at = at + 3
  local subAt = nil
  if args[at] ~= '' then
    subAt = at
    at = at + (args[at + 4] == '1' and 7 or 5)
  else
    at = at + 1
  end
  local fieldCount = tonumber(args[at])
  local fieldsAt = at + 1
  at = fieldsAt + 2 * fieldCount
  local addCount = tonumber(args[at])
  local addAt = at + 1
  at = addAt + addCount
  local removeCount = tonumber(args[at])
  local removeAt = at + 1

  -- One read: the core attributes (id: whether the contact exists), the fields and tags named.
  for k = 0, fieldCount - 1 do
    local name = args[fieldsAt + 2 * k]
    reads[6 + k] = field_keys[name] or hash_field(field_keys, HP.field, name)
  end
  for k = 0, addCount - 1 do
    local tag = args[addAt + k]
    reads[6 + fieldCount + k] = tag_keys[tag] or hash_field(tag_keys, HP.tag, tag)
  end
  for k = 0, removeCount - 1 do
    local tag = args[removeAt + k]
    reads[6 + fieldCount + addCount + k] = tag_keys[tag] or hash_field(tag_keys, HP.tag, tag)
  end
  local got = redis.call('HMGET', base, unpack(reads, 1, 5 + fieldCount + addCount + removeCount))
  local exists = got[1] ~= false
  if not exists and r.mode == 'update' then
    return redis.error_reply('NOT_FOUND contact does not exist')
  end
  if exists and r.mode == 'create' then
    return redis.error_reply('EXISTS contact already exists')
  end

  local newFields, newTags = 0, 0
  for k = 0, fieldCount - 1 do
    local has, enc = got[6 + k] ~= false, args[fieldsAt + 2 * k + 1]
    if enc == '' then
      if has then newFields = newFields - 1 end
    elseif not has then
      newFields = newFields + 1
    end
  end
  -- Tags added, and tags removed that the contact has (a tag both added and removed is removed).
  for tag in next, removing do removing[tag] = nil end
  for tag in next, hadTag do hadTag[tag] = nil end
  for k = 0, addCount - 1 do hadTag[args[addAt + k]] = got[6 + fieldCount + k] ~= false end
  for k = 0, removeCount - 1 do
    local tag = args[removeAt + k]
    removing[tag] = true
    hadTag[tag] = got[6 + fieldCount + addCount + k] ~= false
  end
  for k = 0, addCount - 1 do
    local tag = args[addAt + k]
    if not hadTag[tag] and not removing[tag] then newTags = newTags + 1 end
  end
  for tag in pairs(removing) do if hadTag[tag] then newTags = newTags - 1 end end
  -- An existing contact's fields and tags are counted (one HKEYS for both) when the change adds some.
  if newFields > 0 or newTags > 0 then
    local keys = exists and redis.call('HKEYS', base)
    if newFields > 0 then
      local total = newFields + (keys and count_prefixed(keys, HP.field) or 0)
      if total > max.fields then return redis.error_reply('LIMIT fields ' .. total) end
    end
    if newTags > 0 then
      local total = newTags + (keys and count_prefixed(keys, HP.tag) or 0)
      if total > max.tags then return redis.error_reply('LIMIT tags ' .. total) end
    end
  end

  item_base, item_id, item_source, item_chain = base, id, source, chain
  -- A new contact logs no event but $contact_created, whose id is its answer (below).
  answer, writeCount, removedCount = exists and { 0, got[2] } or nil, 0, 0
  -- A new contact logs one event, $contact_created, instead of one per value it is created with.
  if not exists then
    set('id', id)
    set('createdAt', now_text)
    set('updatedAt', now_text)
    created[#created + 1] = now_text
    created[#created + 1] = id
  end

  -- got[2], got[3], got[4]: the old e-mail, time zone and stage (ATTRS' order).
  for k = 1, #ATTRS do
    local attr = ATTRS[k]
    local new = attrs[attr]
    if new ~= nil then
      local was = got[k + 1] or nil
      if new == false then new = nil end
      if was ~= new then
        if new == nil then remove(attr) else set(attr, new) end
        if attr == 'lifecycleStage' then
          if was then index_member('stage', was, id, false) end
          if new then index_member('stage', new, id, true) end
        end
        if exists then emit('$field_changed', { field = attr, from = was or cjson.null, to = new or cjson.null }) end
      end
    end
  end

  for k = 0, fieldCount - 1 do
    local name, enc, was = args[fieldsAt + 2 * k], args[fieldsAt + 2 * k + 1], got[6 + k]
    if enc == '' then
      if was then
        remove(reads[6 + k])
        emit('$field_changed', { field = name, from = decode_value(was), to = cjson.null })
      end
    elseif was ~= enc then
      set(reads[6 + k], enc)
      if exists then emit('$field_changed', { field = name, from = decode_value(was), to = decode_value(enc) }) end
    end
  end

  for k = 0, addCount - 1 do
    local tag = args[addAt + k]
    if not hadTag[tag] and not removing[tag] then
      hadTag[tag] = true
      set(reads[6 + fieldCount + k], '')
      index_member('tag', tag, id, true)
      if exists then emit('$tag_added', { tag = tag }) end
    end
  end
  if exists then
    for k = 0, removeCount - 1 do
      local tag = args[removeAt + k]
      if hadTag[tag] then
        remove(reads[6 + fieldCount + addCount + k])
        index_member('tag', tag, id, false)
        emit('$tag_removed', { tag = tag })
      end
    end
  end

  -- The subscription: status, source, time (ms), the status it may change from ('' any), then
  -- '1', IP and user agent of an opt-in confirmation, or '0'.
  if subAt then
    local status, subSource, subTime, from = args[subAt], args[subAt + 1], args[subAt + 2], args[subAt + 3]
    local was = got[5]
    if was ~= status and (from == '' or was == from) then
      set('status', status)
      set('consentSource', subSource)
      set('consentAt', subTime)
      if args[subAt + 4] == '1' then
        set('confirmedAt', subTime)
        set('confirmedSource', subSource)
        set('confirmedIp', args[subAt + 5])
        set('confirmedUserAgent', args[subAt + 6])
      end
      if was then index_member('status', was, id, false) end
      index_member('status', status, id, true)
      if exists then emit('$subscription_changed', { from = was or cjson.null, to = status, source = subSource }) end
    end
  end

  if not exists then
    -- As record_created (lib/redis/lua/events.lua), its id written with the rest.
    created_event.ts, created_event.props, created_event.source, created_event.chain = now_text, createdProps, source, chain
    local eid = log_event(shard, id, '$contact_created', created_event, lim)
    set('createdEvent', eid)
    answer = eid
  elseif #answer > 2 then
    set('updatedAt', now_text)
  end
  if removedCount > 0 then redis.call('HDEL', base, unpack(removed, 1, removedCount)) end
  if writeCount > 0 then redis.call('HSET', base, unpack(writes, 1, writeCount)) end
  return answer
end, nil, nil, true)

trim_deferred_log(shard, lim)
if #created > 0 then redis.call('ZADD', shard .. SHARD_KEY.index .. IX.all, unpack(created)) end
for _, key in ipairs(memberKeys) do
  local add, remove = {}, {}
  for id, member in pairs(members[key]) do
    if member then add[#add + 1] = id else remove[#remove + 1] = id end
  end
  if #add > 0 then redis.call('SADD', key, unpack(add)) end
  if #remove > 0 then redis.call('SREM', key, unpack(remove)) end
end
return guarded_answer(shard, guard, answers)
