-- wrk script for Stampede purchases: every request is a distinct buyer (user
-- "<run>-<thread>-<n>"), quantity 1, no Idempotency-Key. Used by scripts/bench and
-- scripts/wrk/measure.
--
-- The sale is the URL's path (…/v1/sales/<id>/orders), or SALE=<id> with the base URL.
-- BACKOFF_MS=N: a connection that got 503 waits about N ms before its next request, like a client
-- honouring Retry-After (0, the default: retry at once, the worst case).
-- BENCH_RUN sets the user prefix so repeated runs never reuse a user (default: random).
--
-- STATUSES=0: no per-status counting in the script (cheaper; the status lines below are absent).
-- After wrk's summary it prints one "status <code> <count>" line per status and a line
-- "RESULT created=… conflict=… shed=… other=… goodput=…/s shed_rate=…/s p50_ms=… p99_ms=… max_ms=…".

local sale = os.getenv("SALE")
local backoff = tonumber(os.getenv("BACKOFF_MS") or "0")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  prefix = (os.getenv("BENCH_RUN") or tostring(math.random(1, 1000000000))) .. "-" .. id .. "-"
  counter = 0
  statuses = {}
  shed_last = false
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  -- Request line and headers (wrk's Host, any -H, Content-Type), up to the Content-Length value.
  local lines = { "POST " .. (sale and ("/v1/sales/" .. sale .. "/orders") or wrk.path) .. " HTTP/1.1" }
  for name, value in pairs(wrk.headers) do
    if name:lower() ~= "content-length" then lines[#lines + 1] = name .. ": " .. value end
  end
  lines[#lines + 1] = "Content-Length: "
  head = table.concat(lines, "\r\n")
end

-- The request is built from a head made once in init(), not with wrk.format(): that builds a table
-- and formats every header for each request, and the load generator shares the cores with the
-- server (this way costs wrk ~1.5 µs less per request; the bytes sent are the same).
function request()
  counter = counter + 1
  local body = '{"user_id":"' .. prefix .. counter .. '","quantity":1}'
  return head .. #body .. "\r\n\r\n" .. body
end

-- wrk calls these for every request when they exist, and each costs the load generator CPU it
-- shares with the server: delay() arms a timer, response() builds a table of the headers. So
-- delay() exists only with BACKOFF_MS, and response() unless STATUSES=0 (scripts/bench counts the
-- answers by status from the server's /metrics instead).
if backoff > 0 then
  function delay()
    local wait = shed_last and backoff * (0.5 + math.random()) or 0
    shed_last = false
    return wait
  end
end

if os.getenv("STATUSES") ~= "0" then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    shed_last = status == 503
  end
end

function done(summary, latency, requests)
  if os.getenv("STATUSES") == "0" then return end
  local total = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d %d\n", code, n)) end
  local created = (total[201] or 0) + (total[200] or 0)
  local conflict, shed = total[409] or 0, total[503] or 0
  local other = summary.requests - created - conflict - shed
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT created=%d conflict=%d shed=%d other=%d goodput=%.0f/s shed_rate=%.0f/s p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    created, conflict, shed, other, (created + conflict) / secs, shed / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
