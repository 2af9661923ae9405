--[[
  kv.increment: add to the number stored at a key (0 when the key is missing).

  Input:
    KEYS[1]  the key
    ARGV[1]  the amount (may be negative or fractional)

  Output: the new value as a string, or -1 when the key holds something that is not a JSON
  number (nothing is written then).
]]
local current = redis.call('GET', KEYS[1])
if current and not is_json_number(current) then
  return -1
end
return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
