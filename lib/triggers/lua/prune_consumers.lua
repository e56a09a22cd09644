-- Removes consumers of a group that hold no pending entries: this consumer itself when it stops,
-- and others idle for longer than a limit (n8n mains that went away; their pending entries were
-- reclaimed first). A script, so Cluster clients route it by its key.
-- KEYS[1] the stream
-- ARGV[1] group
-- ARGV[2] this consumer
-- ARGV[3] max idle (ms)
-- ARGV[4] '1': remove this consumer too
-- Returns how many consumers were removed.
local removed = 0
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  local isSelf = info['name'] == ARGV[2]
  if tonumber(info['pending']) == 0 and ((isSelf and ARGV[4] == '1') or (not isSelf and tonumber(info['idle']) > tonumber(ARGV[3]))) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
