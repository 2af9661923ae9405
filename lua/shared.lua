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
