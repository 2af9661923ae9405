--[[
  index.delete: remove an entry from the index together with its metadata hash.

  Input:
    KEYS[1]  the index (sorted set)
    KEYS[2]  the entry's metadata hash
    ARGV[1]  id (sorted-set member)

  Output: 1 when the id was in the index, else 0.
]]
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return removed
