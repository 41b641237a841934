-- wrk script: refresh with rotation. The first script argument is a file of
-- refresh tokens, one a line; each request spends one, and each answer's new
-- refresh token goes back into the pool (run with -t1 and fewer connections
-- than tokens). Prints one JSON line of results.
local pool = {}

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then pool[#pool + 1] = line end
  end
end

function request()
  local token = table.remove(pool, 1) or "apmo_rt_pool_empty"
  return wrk.format("POST", "/api/v1/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local token = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then pool[#pool + 1] = token end
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"wrk":1,"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
