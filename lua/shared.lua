--[[
  Helpers every script starts with (src/scripts.rs puts this file before each one).
]]
local rcall = redis.call

-- Runs `cmd key item…` over list[first…] in slices: unpack() is bounded by Lua's stack. A slice
-- holds an even number of items, so field/value pairs stay whole.
local function in_slices(cmd, key, list, first)
  local step = 4000
  for i = first, #list, step do
    rcall(cmd, key, unpack(list, i, math.min(i + step - 1, #list)))
  end
end

-- Whether the hash field `f` sits below the dotted path `field` (`a.b` is below `a`).
local function is_below(f, field)
  return string.sub(f, 1, #field + 1) == field .. '.'
end

-- Whether the entry whose metadata hash KEYS[1] does not exist is listed: its id ARGV[1] is in
-- the index KEYS[2]. On a cluster the index may lie in another slot and is then left out; the
-- caller says in ARGV[2] whether it found the id there ('1'), or ('') that it did not look, and
-- the answer is nil: the script writes nothing and asks it to look.
local function listed()
  if ARGV[2] == '1' then
    return true
  end
  if KEYS[2] then
    return rcall('ZSCORE', KEYS[2], ARGV[1]) ~= false
  end
  return nil
end
