-- Applies one change to a contact atomically and logs an event per effective change; a new
-- contact logs one $contact_created {email?, timezone?, lifecycleStage?, fields?, tags?,
-- subscription?} with what it was created with, instead of an event per field and tag.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] JSON {id, now, mode ('upsert'|'create'|'update'), attrs {email?, timezone?,
--         lifecycleStage?} (false clears), fields {name: encoded|false}, addTags [], removeTags [],
--         subscription? {status, source, at}, source, chain, limits, max {fields, tags}}
-- Returns JSON {created, oldEmail, events [{id, name, props}]}; NOT_FOUND (update of a missing
-- contact), EXISTS (create of an existing one) or LIMIT <what> <count> (the contact would hold
-- more fields or tags than max allows), before anything is written.
--- @include "field_types"
--- @include "contact_keys"
--- @include "contact"
--- @include "events"

local function json_or_empty(t)
  if t == nil or next(t) == nil then return '{}' end
  return cjson.encode(t)
end

-- Typed field values are stored as "<FIELD_TYPE code>:<text>" (a boolean's text is 1 or 0).
local function decode_value(enc)
  if enc == nil or enc == false then return cjson.null end
  local kind, text = string.sub(enc, 1, 1), string.sub(enc, 3)
  if kind == FIELD_TYPE.number then return tonumber(text) end
  if kind == FIELD_TYPE.boolean then return text == '1' end
  return text
end

local base, shard = KEYS[1], KEYS[2]
local r = cjson.decode(ARGV[1])
local lim, id, now = r.limits, r.id, r.now

local exists = redis.call('EXISTS', base) == 1
if not exists and r.mode == 'update' then
  return redis.error_reply('NOT_FOUND contact does not exist')
end
if exists and r.mode == 'create' then
  return redis.error_reply('EXISTS contact already exists')
end

-- Fields and tags are fields of the core hash (HP.field .. name, HP.tag .. tag): the limits count
-- them from the hash's own fields when the change could pass one.
local function count_prefixed(prefix)
  local n = 0
  for _, key in ipairs(redis.call('HKEYS', base)) do
    if string.sub(key, 1, #prefix) == prefix then n = n + 1 end
  end
  return n
end
local fieldNames, newFields = {}, 0
for name in pairs(r.fields) do table.insert(fieldNames, HP.field .. name) end
local oldFields = {}
if #fieldNames > 0 and exists then
  local got = redis.call('HMGET', base, unpack(fieldNames))
  for i, key in ipairs(fieldNames) do oldFields[string.sub(key, #HP.field + 1)] = got[i] end
end
for name, enc in pairs(r.fields) do
  local has = oldFields[name] ~= nil and oldFields[name] ~= false
  if enc == false then
    if has then newFields = newFields - 1 end
  elseif not has then
    newFields = newFields + 1
  end
end
-- Tags added, and tags removed that the contact has (a tag both added and removed is removed).
local removing, hadTag, newTags = {}, {}, 0
for _, tag in ipairs(r.removeTags) do removing[tag] = true end
local tagKeys = {}
for _, tag in ipairs(r.addTags) do table.insert(tagKeys, HP.tag .. tag) end
for _, tag in ipairs(r.removeTags) do table.insert(tagKeys, HP.tag .. tag) end
if #tagKeys > 0 and exists then
  local got = redis.call('HMGET', base, unpack(tagKeys))
  for i, key in ipairs(tagKeys) do hadTag[string.sub(key, #HP.tag + 1)] = got[i] ~= false end
end
for _, tag in ipairs(r.addTags) do if not hadTag[tag] and not removing[tag] then newTags = newTags + 1 end end
for tag in pairs(removing) do if hadTag[tag] then newTags = newTags - 1 end end
for _, limit in ipairs({ { HP.field, newFields, 'fields' }, { HP.tag, newTags, 'tags' } }) do
  local prefix, change, what = limit[1], limit[2], limit[3]
  local total = change
  if exists and change > 0 then total = count_prefixed(prefix) + change end
  if change > 0 and total > r.max[what] then return redis.error_reply('LIMIT ' .. what .. ' ' .. total) end
end

local events = {}
local function emit(name, props)
  local ev = { name = name, ts = now, props = json_or_empty(props), source = r.source, chain = r.chain }
  local eid
  if name == '$contact_created' then eid = record_created(base, shard, id, ev, lim) else eid = record(base, shard, id, now, ev, lim) end
  table.insert(events, { id = eid, name = name, props = props })
end

local created = ensure_contact(base, shard, id, now)
-- What a new contact was created with: one event, its properties naming each value.
local initial = created and {} or nil
local writes = {}
local function set(key, value)
  table.insert(writes, key)
  table.insert(writes, value)
end
local function index_set(kind, value) return shard .. SHARD_KEY.index .. kind .. ':' .. value end

local oldEmail = false
if exists then
  local old = redis.call('HMGET', base, 'email', 'timezone', 'lifecycleStage', 'status')
  oldEmail = old[1]
  r.old = { email = old[1], timezone = old[2], lifecycleStage = old[3], status = old[4] }
else
  r.old = {}
end
for _, attr in ipairs({ 'email', 'timezone', 'lifecycleStage' }) do
  local new = r.attrs[attr]
  if new ~= nil then
    local old = r.old[attr] or nil
    if new == false then new = nil end
    if old ~= new then
      if new == nil then redis.call('HDEL', base, attr) else set(attr, new) end
      if attr == 'lifecycleStage' then
        if old then redis.call('SREM', index_set('stage', old), id) end
        if new then redis.call('SADD', index_set('stage', new), id) end
      end
      if initial then
        initial[attr] = new
      else
        emit('$field_changed', { field = attr, from = old or cjson.null, to = new or cjson.null })
      end
    end
  end
end

for name, enc in pairs(r.fields) do
  local old = oldFields[name] or nil
  if enc == false then
    if old then
      redis.call('HDEL', base, HP.field .. name)
      emit('$field_changed', { field = name, from = decode_value(old), to = cjson.null })
    end
  elseif old ~= enc then
    set(HP.field .. name, enc)
    if initial then
      initial.fields = initial.fields or {}
      initial.fields[name] = decode_value(enc)
    else
      emit('$field_changed', { field = name, from = decode_value(old), to = decode_value(enc) })
    end
  end
end

for _, tag in ipairs(r.addTags) do
  if not hadTag[tag] and not removing[tag] then
    hadTag[tag] = true
    set(HP.tag .. tag, '')
    redis.call('SADD', index_set('tag', tag), id)
    if initial then
      initial.tags = initial.tags or {}
      table.insert(initial.tags, tag)
    else
      emit('$tag_added', { tag = tag })
    end
  end
end
if exists then
  for _, tag in ipairs(r.removeTags) do
    if hadTag[tag] and redis.call('HDEL', base, HP.tag .. tag) == 1 then
      redis.call('SREM', index_set('tag', tag), id)
      emit('$tag_removed', { tag = tag })
    end
  end
end

if r.subscription then
  local s = r.subscription
  local old = r.old.status
  if old ~= s.status then
    set('status', s.status)
    set('consentSource', s.source)
    set('consentAt', s.at)
    if old then redis.call('SREM', index_set('status', old), id) end
    redis.call('SADD', index_set('status', s.status), id)
    if initial then
      initial.subscription = { status = s.status, source = s.source }
    else
      emit('$subscription_changed', { from = old or cjson.null, to = s.status, source = s.source })
    end
  end
end

if #writes > 0 then redis.call('HSET', base, unpack(writes)) end
if initial then emit('$contact_created', initial) end
if #events > 0 then redis.call('HSET', base, 'updatedAt', now) end
return cjson.encode({ created = created, oldEmail = oldEmail or false, events = events })
