// The Lua twins of window.ts and reserve.ts: each runs atomically in Redis, on Redis's own clock (TIME).
//
// A subject is one hash: h = oldest bucket that may hold counts, t / r = token and request totals,
// l = newest bucket written, and t<bucket> / r<bucket> per bucket. 0 stands for "no limit".

const PRELUDE = `
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window_ms = tonumber(ARGV[1])
local bucket_ms = tonumber(ARGV[2])
local per_window = math.floor(window_ms / bucket_ms)
local current = math.floor(now_ms / bucket_ms)
local oldest = current - per_window
local ttl_ms = window_ms + 2 * bucket_ms
local current_tokens_field = 't' .. current
local current_requests_field = 'r' .. current

-- Drops buckets that left the window. Returns tokens, requests, last bucket (-1 when the subject holds nothing),
-- and the current bucket's tokens and requests, all from one HMGET: every redis.call costs about a microsecond.
local function advance(key)
  local state = redis.call('HMGET', key, 'h', 't', 'r', 'l', current_tokens_field, current_requests_field)
  if not state[1] then return 0, 0, -1, 0, 0 end
  local head = tonumber(state[1])
  local tokens = tonumber(state[2]) or 0
  local requests = tonumber(state[3]) or 0
  local last = tonumber(state[4]) or -1
  if last < oldest then
    redis.call('DEL', key)
    return 0, 0, -1, 0, 0
  end
  if head < oldest then
    for bucket = head, oldest - 1 do
      local count = redis.call('HMGET', key, 't' .. bucket, 'r' .. bucket)
      if count[1] or count[2] then
        tokens = tokens - (tonumber(count[1]) or 0)
        requests = requests - (tonumber(count[2]) or 0)
        redis.call('HDEL', key, 't' .. bucket, 'r' .. bucket)
      end
    end
    redis.call('HSET', key, 'h', oldest, 't', tokens, 'r', requests)
  end
  return tokens, requests, last, tonumber(state[5]) or 0, tonumber(state[6]) or 0
end
`;

/**
 * Check-and-reserve for a batch of reservations, decided one after another (each sees the ones before it), all at
 * one Redis TIME. The batch is how the client spends one round trip, and one script call, on every reservation that
 * queued up while the previous batch was in flight.
 *
 * KEYS: every key the batch names, each once (the reservations of one replica mostly share theirs).
 * ARGV: window_ms, bucket_ms, and the batch as one comma-joined list of integers: per reservation, instance_count,
 * tokens, client_key (its index in KEYS, 0 for none), client_tpm, client_rpm, then key index, tpm and rpm per
 * instance. One packed argument instead of dozens: the client encodes one value, and names each key once.
 * Reply: per reservation, joined with ';': ok, chosen (1-based, 0 none), now_ms, bucket, retry_after_ms (-1 never),
 * blocked_by (0 none, 1 client, 2 instance), the client's tokens, requests and last bucket, then for each instance
 * checked its tokens, requests, last bucket and retry_after_ms (0 when the request fit there, -1 never).
 * One bulk string instead of arrays of integers: the client decodes one value, not dozens.
 */
export const RESERVE_LUA = `${PRELUDE}
-- The reservation being decided: fits and retry_after read it.
local need = 0

-- Each subject the batch names is read once (advance), changed here, and written once at the end: reservations
-- after the first on a key cost no redis.call.
local subjects = {}
local function subject(key)
  local s = subjects[key]
  if not s then
    local t, r, l, bt, br = advance(key)
    s = { t = t, r = r, l = l, bt = bt, br = br, dirty = false }
    subjects[key] = s
  end
  return s
end

local function flush(key, s)
  redis.call('HSET', key, 'h', oldest, 'l', s.l, 't', s.t, 'r', s.r, current_tokens_field, s.bt, current_requests_field, s.br)
  redis.call('PEXPIRE', key, ttl_ms)
  s.dirty = false
end

local function commit(s)
  s.t, s.r, s.l, s.bt, s.br, s.dirty = s.t + need, s.r + 1, current, s.bt + need, s.br + 1, true
end

local function fits(s, tpm, rpm)
  return (tpm == 0 or s.t + need <= tpm) and (rpm == 0 or s.r + 1 <= rpm)
end

-- Only on refusals: one HGETALL (after writing what this batch added), then the live buckets oldest first.
local function retry_after(key, s, tpm, rpm)
  if tpm > 0 and need > tpm then return -1 end
  local token_excess = 0
  local request_excess = 0
  if tpm > 0 then token_excess = s.t + need - tpm end
  if rpm > 0 then request_excess = s.r + 1 - rpm end
  if token_excess <= 0 and request_excess <= 0 then return 0 end
  if s.dirty then flush(key, s) end
  local token_at = {}
  local request_at = {}
  local fields = redis.call('HGETALL', key)
  local sub, byte = string.sub, string.byte
  for i = 1, #fields, 2 do
    local field = fields[i]
    local offset = #field > 1 and tonumber(sub(field, 2))
    if offset then
      offset = offset - oldest
      if offset >= 0 then
        if byte(field, 1) == 116 then token_at[offset] = tonumber(fields[i + 1])
        else request_at[offset] = tonumber(fields[i + 1]) end
      end
    end
  end
  local freed_tokens = 0
  local freed_requests = 0
  for offset = 0, per_window do
    freed_tokens = freed_tokens + (token_at[offset] or 0)
    freed_requests = freed_requests + (request_at[offset] or 0)
    if freed_tokens >= token_excess and freed_requests >= request_excess then
      return (oldest + offset + per_window + 1) * bucket_ms - now_ms
    end
  end
  return (current + per_window + 1) * bucket_ms - now_ms
end

-- The packed batch (ARGV[3]) as numbers.
local packed = {}
for value in string.gmatch(ARGV[3], '[^,]+') do packed[#packed + 1] = tonumber(value) end

local format = string.format
local UNLIMITED = { t = 0, r = 0, l = -1 }

local function reserve(at)
  local instance_count = packed[at]
  need = packed[at + 1]
  local client_key = KEYS[packed[at + 2]]
  local client = nil
  local client_fits = true
  local client_retry = 0
  if client_key ~= nil then
    client = subject(client_key)
    client_fits = fits(client, packed[at + 3], packed[at + 4])
    if not client_fits then client_retry = retry_after(client_key, client, packed[at + 3], packed[at + 4]) end
  end

  -- Per instance checked: its subject (UNLIMITED for one without limits) and its retry_after.
  local checked = {}
  local waits = {}
  local chosen = 0
  local instance_retry = -1
  for i = 1, instance_count do
    local key = KEYS[packed[at + 2 + 3 * i]]
    local tpm = packed[at + 3 + 3 * i]
    local rpm = packed[at + 4 + 3 * i]
    if tpm == 0 and rpm == 0 then
      checked[i], waits[i], chosen = UNLIMITED, 0, i
      break
    end
    local s = subject(key)
    checked[i] = s
    if fits(s, tpm, rpm) then
      waits[i], chosen = 0, i
      break
    end
    local wait = retry_after(key, s, tpm, rpm)
    waits[i] = wait
    if wait >= 0 and (instance_retry < 0 or wait < instance_retry) then instance_retry = wait end
  end

  local ok = 0
  local retry = 0
  local blocked = 0
  if client_fits and chosen > 0 then
    ok = 1
    if client then commit(client) end
    if checked[chosen] ~= UNLIMITED then commit(checked[chosen]) end
  else
    if client_fits then blocked = 2 else blocked = 1 end
    local instance_part = instance_retry
    if chosen > 0 then instance_part = 0 end
    if client_retry < 0 or instance_part < 0 then retry = -1 else retry = math.max(client_retry, instance_part) end
  end

  local c = client or UNLIMITED
  local parts = { format('%d,%d,%d,%d,%d,%d,%d,%d,%d', ok, chosen, now_ms, current, retry, blocked, c.t, c.r, c.l) }
  for i = 1, #checked do
    local s = checked[i]
    parts[i + 1] = format('%d,%d,%d,%d', s.t, s.r, s.l, waits[i])
  end
  return table.concat(parts, ',')
end

local replies = {}
local at = 1
while at <= #packed do
  replies[#replies + 1] = reserve(at)
  at = at + 5 + 3 * packed[at]
end
for key, s in pairs(subjects) do
  if s.dirty then flush(key, s) end
end
return table.concat(replies, ';')
`;

/**
 * KEYS: the subjects a reservation charged. ARGV: window_ms, bucket_ms, bucket, token delta, request delta.
 * A bucket that already left the window is past caring; counts never go below zero.
 */
export const ADJUST_LUA = `${PRELUDE}
local bucket = tonumber(ARGV[3])
local token_delta = tonumber(ARGV[4])
local request_delta = tonumber(ARGV[5])
if bucket < oldest then return 0 end
for _, key in ipairs(KEYS) do
  local _, _, last = advance(key)
  local count = redis.call('HMGET', key, 't' .. bucket, 'r' .. bucket)
  local old_tokens = tonumber(count[1]) or 0
  local old_requests = tonumber(count[2]) or 0
  local tokens = math.max(0, old_tokens + token_delta)
  local requests = math.max(0, old_requests + request_delta)
  if tokens ~= old_tokens or requests ~= old_requests then
    if last < 0 then redis.call('HSET', key, 'h', oldest, 't', 0, 'r', 0, 'l', -1) end
    redis.call('HSET', key, 't' .. bucket, tokens, 'r' .. bucket, requests)
    redis.call('HINCRBY', key, 't', tokens - old_tokens)
    redis.call('HINCRBY', key, 'r', requests - old_requests)
    if (tokens > 0 or requests > 0) and bucket > last then redis.call('HSET', key, 'l', bucket) end
    redis.call('PEXPIRE', key, ttl_ms)
  end
end
return 1
`;
