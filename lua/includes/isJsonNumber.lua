--[[
  is_json_number(s): whether the stored text `s` is a number as JSON writes it ('7', '-1.5',
  '2e3'), so that increments never turn a string such as '007', '0x1A' or '1.' (which Redis's
  own float parser accepts) into a number.
]]
local function is_json_number(s)
  local int, frac, exp = string.match(s, '^%-?(%d+)(%.?%d*)([eE]?[%+%-]?%d*)$')
  if not int or (#int > 1 and string.sub(int, 1, 1) == '0') or frac == '.' then
    return false
  end
  return exp == '' or string.match(exp, '^[eE][%+%-]?%d+$') ~= nil
end
