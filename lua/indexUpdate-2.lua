--[[
  index.update: deep-merge a partial into an entry's metadata hash and bump its version.
  Atomic, so concurrent updates of one entry never lose each other's fields.

  Input:
    KEYS[1]  the entry's metadata hash
    KEYS[2]  the index (sorted set), read only: an entry added without metadata has no hash yet.
             Left out on a cluster where it lies in another slot (see listed() in shared.lua).
    ARGV[1]  the entry's id (sorted-set member)
    ARGV[2]  '1' when the caller found the id in the index, else ''
    ARGV[3]  number of leaves to write (S)
    ARGV[4]  number of fields to delete (D), the partial's nulls
    ARGV[5]  number of empty objects to write (E)
    ARGV[6]  number of ancestor fields to clear (A)
    then     S × (field, value), D × (field, parent field or ''), E × field, A × field

  A written leaf replaces whatever was at its field or below it; an ancestor that was a leaf is
  removed so the new object is not hidden; a deleted field takes everything below it; an
  empty object is written as '{}' only where no fields already sit below it; an object left
  with no fields by a delete stays as an empty object.

  Output: the new version, or -1 when the entry does not exist (no hash, and not in the index),
  or -4 when there is no hash and the index was not given: look there, then call again.
]]
local meta = KEYS[1]
if rcall('EXISTS', meta) == 0 then
  local found = listed()
  if found == nil then
    return -4
  elseif not found then
    return -1
  end
end

local nset, ndel, nempty, nanc = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local sets_at, dels_at = 7, 7 + 2 * nset
local empties_at = dels_at + 2 * ndel
local ancs_at = empties_at + nempty

local present = {}
for _, field in ipairs(rcall('HKEYS', meta)) do
  present[field] = true
end

local function has_below(field)
  for f in pairs(present) do
    if is_below(f, field) then return true end
  end
  return false
end

local doomed = {}
local function remove(field)
  if present[field] then
    present[field] = nil
    doomed[#doomed + 1] = field
  end
end

local function remove_below(field)
  for f in pairs(present) do
    if is_below(f, field) then remove(f) end
  end
end

for i = ancs_at, ancs_at + nanc - 1 do
  remove(ARGV[i])
end

local writes = {}
for i = sets_at, dels_at - 1, 2 do
  remove_below(ARGV[i])
  present[ARGV[i]] = true
  writes[#writes + 1] = ARGV[i]
  writes[#writes + 1] = ARGV[i + 1]
end

for i = dels_at, empties_at - 1, 2 do
  local field, parent = ARGV[i], ARGV[i + 1]
  local existed = present[field] or has_below(field)
  remove(field)
  remove_below(field)
  -- keep the parent as an empty object rather than letting it vanish
  if existed and parent ~= '' and not present[parent] and not has_below(parent) then
    writes[#writes + 1] = parent
    writes[#writes + 1] = '{}'
    present[parent] = true
  end
end

for i = empties_at, ancs_at - 1 do
  local field = ARGV[i]
  if not has_below(field) then
    present[field] = true
    writes[#writes + 1] = field
    writes[#writes + 1] = '{}'
  end
end

-- The version first: a write Redis refuses when out of memory, so that a refused call writes
-- nothing (once a script has written, Redis lets it finish).
local version = rcall('HINCRBY', meta, 'version', 1)
in_slices('HDEL', meta, doomed, 1)
in_slices('HSET', meta, writes, 1)
return version
