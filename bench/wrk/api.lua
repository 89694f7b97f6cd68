-- api.lua -- wrk script for the chat REST API: a bearer token, an optional
-- method and JSON body, and one machine-readable line at the end.
--
--   WRK_TOKEN=... [WRK_METHOD=POST WRK_BODY='{"message":"hi"}'] \
--     wrk -t2 -c50 -d5s -s bench/wrk/api.lua http://127.0.0.1:18380/api/rooms
--
-- done() prints "WRKJSON {...}" with requests, rps, errors and latency
-- percentiles in microseconds; bench/run.sh picks that line up.

local token = os.getenv("WRK_TOKEN") or ""
local method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY") or ""

wrk.method = method
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"method":"%s","requests":%d,"seconds":%.3f,"rps":%.1f,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    method, summary.requests, secs, summary.requests / secs, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
