--[[
  index.add: put an entry in the sorted set and REPLACE its metadata hash, in one step.

  Input:
    KEYS[1]  the index (sorted set)
    KEYS[2]  the entry's metadata hash, `{index}:meta:{id}`
    ARGV[1]  score
    ARGV[2]  id (sorted-set member)
    ARGV[3]  '1' when the caller gave metadata, '0' when not
    ARGV[4…] field, value, field, value … (the flattened metadata, without `version`)

  Output: the entry's version after the call.
    0 for a new entry; one more than before when the id existed with metadata, so that a
    version never goes backwards. An entry added without metadata gets no hash at all (as in
    0.5.15) unless it had one before, which keeps its version counting.
]]
local previous = rcall('HGET', KEYS[2], 'version')
-- The first write is one Redis refuses when out of memory (or on a key of another type), so a
-- refused call writes nothing: once a script has written, Redis lets it finish.
rcall('ZADD', KEYS[1], ARGV[1], ARGV[2])
local version = 0
if previous then
  version = (tonumber(previous) or -1) + 1
end
rcall('DEL', KEYS[2])
if ARGV[3] == '1' or previous then
  rcall('HSET', KEYS[2], 'version', version)
  in_slices('HSET', KEYS[2], ARGV, 4)
end
return version
