-- Applies one change to a contact atomically and logs an event per effective change.
-- KEYS[1] contact base
-- KEYS[2] shard prefix
-- ARGV[1] JSON {id, now, mode ('upsert'|'create'|'update'), attrs {email?, timezone?,
--         lifecycleStage?} (false clears), fields {name: encoded|false}, addTags [], removeTags [],
--         subscription? {status, source, at, from?, proof? {ip, userAgent}}, source, chain, limits, max {fields, tags}}
-- Returns JSON {created, oldEmail, events [{id, name, props}]}; NOT_FOUND (update of a missing
-- contact), EXISTS (create of an existing one) or LIMIT <what> <count> (the contact would hold
-- more fields or tags than max allows), before anything is written.
--- @include "field_types"
--- @include "contact_keys"
--- @include "register"
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

local fieldsKey, tagsKey = base .. SUFFIX.fields, base .. SUFFIX.tags
local fieldCount = redis.call('HLEN', fieldsKey)
for name, enc in pairs(r.fields) do
  local has = redis.call('HEXISTS', fieldsKey, name) == 1
  if enc == false then
    if has then fieldCount = fieldCount - 1 end
  elseif not has then
    fieldCount = fieldCount + 1
  end
end
if fieldCount > r.max.fields then return redis.error_reply('LIMIT fields ' .. fieldCount) end
local tagCount, added = redis.call('SCARD', tagsKey), {}
for _, tag in ipairs(r.addTags) do
  if redis.call('SISMEMBER', tagsKey, tag) == 0 then tagCount = tagCount + 1; added[tag] = true end
end
for _, tag in ipairs(r.removeTags) do
  if added[tag] or redis.call('SISMEMBER', tagsKey, tag) == 1 then tagCount = tagCount - 1 end
end
if tagCount > r.max.tags then return redis.error_reply('LIMIT tags ' .. tagCount) end

local events = {}
local function emit(name, props)
  local eid = record(base, shard, id, now,
    { name = name, ts = now, props = json_or_empty(props), source = r.source, chain = r.chain }, lim)
  table.insert(events, { id = eid, name = name, props = props })
end

local created = ensure_contact(base, shard, id, now)
if created then emit('$contact_created', {}) end

local oldEmail = redis.call('HGET', base, 'email')
for _, attr in ipairs({ 'email', 'timezone', 'lifecycleStage' }) do
  local new = r.attrs[attr]
  if new ~= nil then
    local old = redis.call('HGET', base, attr)
    if new == false then new = nil end
    if old ~= new then
      if new == nil then redis.call('HDEL', base, attr) else redis.call('HSET', base, attr, new) end
      if attr == 'lifecycleStage' then
        if old then redis.call('SREM', shard .. ':ix:stage:' .. old, id) end
        if new then
          redis.call('SADD', shard .. ':ix:stage:' .. new, id)
          reg_index(base, shard .. ':ix:stage:' .. new)
        end
      end
      emit('$field_changed', { field = attr, from = old or cjson.null, to = new or cjson.null })
    end
  end
end

for name, enc in pairs(r.fields) do
  local old = redis.call('HGET', fieldsKey, name)
  if enc == false then
    if old then
      redis.call('HDEL', fieldsKey, name)
      emit('$field_changed', { field = name, from = decode_value(old), to = cjson.null })
    end
  elseif old ~= enc then
    redis.call('HSET', fieldsKey, name, enc)
    reg_key(base, fieldsKey)
    emit('$field_changed', { field = name, from = decode_value(old), to = decode_value(enc) })
  end
end

for _, tag in ipairs(r.addTags) do
  if redis.call('SADD', tagsKey, tag) == 1 then
    reg_key(base, tagsKey)
    redis.call('SADD', shard .. ':ix:tag:' .. tag, id)
    reg_index(base, shard .. ':ix:tag:' .. tag)
    emit('$tag_added', { tag = tag })
  end
end
for _, tag in ipairs(r.removeTags) do
  if redis.call('SREM', tagsKey, tag) == 1 then
    redis.call('SREM', shard .. ':ix:tag:' .. tag, id)
    emit('$tag_removed', { tag = tag })
  end
end

if r.subscription then
  local s = r.subscription
  local old = redis.call('HGET', base, 'status')
  -- s.from: change only a contact in that status (a confirmation link turns only "pending" into "subscribed").
  if old ~= s.status and (not s.from or old == s.from) then
    redis.call('HSET', base, 'status', s.status, 'consentSource', s.source, 'consentAt', s.at)
    if s.proof then
      redis.call('HSET', base, 'confirmedAt', s.at, 'confirmedSource', s.source, 'confirmedIp', s.proof.ip, 'confirmedUserAgent', s.proof.userAgent)
    end
    if old then redis.call('SREM', shard .. ':ix:status:' .. old, id) end
    redis.call('SADD', shard .. ':ix:status:' .. s.status, id)
    reg_index(base, shard .. ':ix:status:' .. s.status)
    emit('$subscription_changed', { from = old or cjson.null, to = s.status, source = s.source })
  end
end

if #events > 0 then redis.call('HSET', base, 'updatedAt', now) end
return cjson.encode({ created = created, oldEmail = oldEmail or false, events = events })
