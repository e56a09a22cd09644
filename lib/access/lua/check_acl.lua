-- Which of the given commands may the user run? Checks only: nothing is run, KEYS[1] is not
-- touched (declared so that a key pattern excluding it refuses the script itself).
-- KEYS[1] a key under the workspace's prefix
-- ARGV[1...] per command: its word count, then its words (name, subcommand, arguments)
-- Answers 1 (allowed) or 0 per command; nil when Redis is older than 7.0 and cannot tell.
if not redis.acl_check_cmd then return nil end
local answers = {}
local at = 1
while at <= #ARGV do
  local count = tonumber(ARGV[at])
  answers[#answers + 1] = redis.acl_check_cmd(unpack(ARGV, at + 1, at + count)) and 1 or 0
  at = at + count + 1
end
return answers
