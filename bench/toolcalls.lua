-- wrk script of `make bench` (bench/run.py): Vapi tool-calls POSTs, each with a toolCallId never sent before,
-- and a JSON summary on stdout at the end. Arguments after `--`:
--   get                                     plain GETs of the URL (the baselines): only the summary
--   check  SECRET NONCE ASSISTANT           check_availability {"service": "Cleaning"}; a new call every 10
--   reserve SECRET NONCE ASSISTANT FILE FIRST COUNT THREADS
--                                           reserve_slot, each from a new call, on lines FIRST.. of FILE
--                                           ("resource<TAB>start"), thread t taking lines t, t+T, ...; past
--                                           COUNT lines it wraps round (those are refused: slot_taken)
-- Answers are sorted by their result's "ok" (true: a hold or an answer, false: a refusal), read from the body.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local kind, secret, nonce, assistant, threads_n
local slots = {}
local counter = 0
oks, refusals, others = 0, 0, 0

function init(args)
  kind, secret, nonce, assistant = args[1], args[2], args[3], args[4]
  if kind == "reserve" then
    local first, count = tonumber(args[6]), tonumber(args[7])
    threads_n = tonumber(args[8])
    local n = 0
    for line in io.lines(args[5]) do
      if n >= first + count then
        break
      elseif n >= first then
        local resource, start = line:match("^([^\t]*)\t(.*)$")
        table.insert(slots, {resource, start})
      end
      n = n + 1
    end
  end
  if kind ~= "get" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["X-Vapi-Secret"] = secret
  end
end

local function envelope(call_id, name, arguments)
  local assistant_field = ""
  if assistant ~= "" and assistant ~= "-" then
    assistant_field = ',"assistantId":"' .. assistant .. '"'
  end
  return '{"message":{"type":"tool-calls","call":{"id":"' .. call_id .. '"' .. assistant_field .. '},'
    .. '"customer":{"number":"+15555550123"},"toolCallList":[{"id":"tc-' .. nonce .. '-' .. id .. '-' .. counter
    .. '","type":"function","function":{"name":"' .. name .. '","arguments":' .. arguments .. '}}]}}'
end

function request()
  if kind == "get" then
    return wrk.format(nil)
  end
  counter = counter + 1
  local body
  if kind == "check" then
    body = envelope("c-" .. nonce .. "-" .. id .. "-" .. math.floor(counter / 10), "check_availability",
      '{"service":"Cleaning"}')
  else
    local slot = slots[((counter - 1) * threads_n + id) % #slots + 1]
    body = envelope("r-" .. nonce .. "-" .. id .. "-" .. counter, "reserve_slot",
      '{"start":"' .. slot[2] .. '","resource":"' .. slot[1] .. '"}')
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if kind == "get" then
    return
  end
  if status ~= 200 then
    others = others + 1
  elseif body:find('"ok\\?"%s*:%s*true') then
    oks = oks + 1
  elseif body:find('"ok\\?"%s*:%s*false') then
    refusals = refusals + 1
  else
    others = others + 1
  end
end

function done(summary, latency, requests)
  local ok, refused, other = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + (thread:get("oks") or 0)
    refused = refused + (thread:get("refusals") or 0)
    other = other + (thread:get("others") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"ok":%d,"refused":%d,"other":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout,
    ok, refused, other))
end
