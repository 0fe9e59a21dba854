-- wrk script: POST /v1/sales/<SALE>/orders with a distinct user per request.
-- Usage: SALE=flash1 wrk -t2 -c64 -d10s -s scripts/wrk/purchase.lua http://127.0.0.1:8080
-- A second sale can take a share of the traffic: SALE2=cold1 SHARE2=0.5 (fraction to SALE2).
-- Prints goodput (201/200/409 answers per second: work done), shed (503 overloaded) and other codes.
local counter = 0
local threads = {}
local sale = os.getenv("SALE") or "flash1"
local sale2 = os.getenv("SALE2")
local share2 = tonumber(os.getenv("SHARE2") or "0")
-- BACKOFF_MS > 0: a connection that got 503 waits that long before its next request, like a
-- client honouring Retry-After (with a shorter, jittered wait). 0: retry at once (worst case).
local backoff = tonumber(os.getenv("BACKOFF_MS") or "0")
local shed_last = false

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  prefix = string.format("w%d-%d-", id, math.random(1, 1000000000))
  ok, conflict, shed, other = 0, 0, 0, 0
end

function request()
  counter = counter + 1
  local target = sale
  if sale2 and math.random() < share2 then target = sale2 end
  local body = '{"user_id":"' .. prefix .. counter .. '","quantity":1}'
  return wrk.format("POST", "/v1/sales/" .. target .. "/orders", {["Content-Type"] = "application/json"}, body)
end

function delay()
  if shed_last and backoff > 0 then
    shed_last = false
    return backoff * (0.5 + math.random())
  end
  shed_last = false
  return 0
end

function response(status, headers, body)
  if status == 201 or status == 200 then ok = ok + 1
  elseif status == 409 then conflict = conflict + 1
  elseif status == 503 then shed = shed + 1; shed_last = true
  else other = other + 1 end
end

function done(summary, latency, requests)
  local o, c, s, x = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); c = c + t:get("conflict"); s = s + t:get("shed"); x = x + t:get("other")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT created=%d conflict=%d shed=%d other=%d goodput=%.0f/s shed_rate=%.0f/s p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    o, c, s, x, (o + c) / secs, s / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
