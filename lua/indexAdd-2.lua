--[[
  index.add: REPLACE an entry's metadata hash and put the entry in the sorted set, in one step.

  Input:
    KEYS[1]  the entry's metadata hash, `{index}:meta:{id}`
    KEYS[2]  the index (sorted set). Left out on a cluster where it lies in another slot: the
             caller then adds the member after this (so no member is seen without its metadata).
    ARGV[1]  score
    ARGV[2]  id (sorted-set member)
    ARGV[3]  '1' when the caller gave metadata, '0' when not
    ARGV[4…] field, value, field, value … (the flattened metadata, without `version`)

  Output: the entry's version after the call.
    0 for a new entry; one more than before when the id existed with metadata, so that a
    version never goes backwards. An entry added without metadata gets no hash at all (as in
    0.5.15) unless it had one before, which keeps its version counting.
]]
local meta, index = KEYS[1], KEYS[2]
local previous = rcall('HGET', meta, 'version')
local version = 0
if previous then
  version = (tonumber(previous) or -1) + 1
end
local kept = ARGV[3] == '1' or previous
-- The first write is one Redis refuses when out of memory (or on a key of another type), so a
-- refused call writes nothing: once a script has written, Redis lets it finish. (DEL and HDEL are
-- not refused, so they never go first.)
if index then
  rcall('ZADD', index, ARGV[1], ARGV[2])
end
if not kept then
  rcall('DEL', meta)
  return version
end
-- The hash is replaced field by field, never deleted and made again: on a cluster, while its slot
-- moves to another node, a script may touch only keys that exist (Redis refuses the rest as
-- "non local"), and one that deleted the hash failed half-way with the metadata gone.
rcall('HSET', meta, 'version', version)
local given = {}
for i = 4, #ARGV, 2 do
  given[ARGV[i]] = true
end
local stale = {}
for _, field in ipairs(rcall('HKEYS', meta)) do
  if field ~= 'version' and not given[field] then
    stale[#stale + 1] = field
  end
end
in_slices('HDEL', meta, stale, 1)
in_slices('HSET', meta, ARGV, 4)
return version
