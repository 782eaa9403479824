--[[
  Gives one back to a rate-limit counter (KEYS[1]) that still exists. A counter whose window ended is not made up
  again: a plain DECR would create it at -1 with no expiry, a credit that never ends.
  Returns the counter after the give-back, or 0 when there was none.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return 0
