--[[
  index.increment: add to one numeric field of an entry's metadata and bump its version, in
  one step.

  Input:
    KEYS[1]  the entry's metadata hash
    KEYS[2]  the index (sorted set), read only: an entry added without metadata has no hash yet.
             Left out on a cluster where it lies in another slot (see listed() in shared.lua).
    ARGV[1]  the entry's id (sorted-set member)
    ARGV[2]  '1' when the caller found the id in the index, else ''
    ARGV[3]  the field (dotted path)
    ARGV[4]  the amount (may be negative or fractional)
    ARGV[5…] the field's ancestors (`a`, `a.b` for `a.b.c`)

  Output: { status, value }
    { 0, new value as a string }   done
    { -1 }                         the entry does not exist (no hash, and not in the index)
    { -2, conflicting field }      a leaf sits above the field, or fields below it
    { -3 }                         the field holds something that is not a number, or the sum
                                   would not be a finite number
    { -4 }                         no hash, and the index was not given: look there, then
                                   call again
  An ancestor that is an empty object ('{}') becomes the object holding the field.
  Nothing is written unless the status is 0.
]]
-- Whether the stored text `s` is a number as JSON writes it ('7', '-1.5', '2e3'): Redis's own
-- float parser also takes '007', '0x1A' or '1.', strings that must not become numbers.
local function is_json_number(s)
  local int, frac, exp = string.match(s, '^%-?(%d+)(%.?%d*)([eE]?[%+%-]?%d*)$')
  if not int or (#int > 1 and string.sub(int, 1, 1) == '0') or frac == '.' then
    return false
  end
  return exp == '' or string.match(exp, '^[eE][%+%-]?%d+$') ~= nil
end

local meta, field = KEYS[1], ARGV[3]
-- the field and its ancestors in one read (found[1] is the field, found[i] is ARGV[i + 3])
local found = rcall('HMGET', meta, field, unpack(ARGV, 5))
local present = found[1] ~= false
-- the common case, a field that is already there, also proves the hash exists
if not present and rcall('EXISTS', meta) == 0 then
  local known = listed()
  if known == nil then
    return { -4 }
  elseif not known then
    return { -1 }
  end
end
local emptied = {}
for i = 2, #found do
  if found[i] == '{}' then
    emptied[#emptied + 1] = ARGV[i + 3]
  elseif found[i] ~= false then
    return { -2, ARGV[i + 3] }
  end
end
if not present then
  for _, f in ipairs(rcall('HKEYS', meta)) do
    if is_below(f, field) then
      return { -2, field }
    end
  end
end
if present and not is_json_number(found[1]) then
  return { -3 }
end
local sum = (present and tonumber(found[1]) or 0) + tonumber(ARGV[4])
if sum ~= sum or sum == math.huge or sum == -math.huge then
  return { -3 }
end
-- the first write is one Redis refuses when out of memory, so a refused call writes nothing
local value = rcall('HINCRBYFLOAT', meta, field, ARGV[4])
if #emptied > 0 then
  rcall('HDEL', meta, unpack(emptied))
end
rcall('HINCRBY', meta, 'version', 1)
return { 0, value }
