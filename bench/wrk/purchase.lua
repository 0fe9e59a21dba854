-- wrk script for Stampede purchases: every request is a distinct buyer
-- (user "<run>-<thread>-<n>"), quantity 1, no Idempotency-Key. Counts answers by status and
-- prints them as "status <code> <count>" lines after wrk's own summary.
-- The run prefix comes from the environment (BENCH_RUN) so repeated runs never reuse a user.

local run = os.getenv("BENCH_RUN") or tostring(os.time())
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  statuses = {}
  prefix = run .. "-" .. tid .. "-"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"user_id":"' .. prefix .. counter .. '","quantity":1}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d %d\n", code, n)) end
end
