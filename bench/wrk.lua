-- wrk script for bench/e2e.py: every request is a GET of `path` on `host` with
-- `Authorization: Bearer <token>`, cycling through the tokens in `tokens_file` (one per
-- line; a single line means the same token on every request). Requests are built once in
-- init(), so the client does the same work per request whatever the row.
-- `done` prints one machine-readable line, prefixed WRKJSON, with the summary and the
-- latency percentiles in microseconds.
--
--   wrk -t1 -c16 -d5s --latency -s bench/wrk.lua http://127.0.0.1:PORT -- PATH HOST TOKENS_FILE

local requests_built = {}
local count = 0
local next_index = 0

function init(args)
  local path, host, tokens_file = args[1], args[2], args[3]
  for line in io.lines(tokens_file) do
    if #line > 0 then
      count = count + 1
      requests_built[count] = wrk.format("GET", path, {
        ["Host"] = host,
        ["Authorization"] = "Bearer " .. line,
      })
    end
  end
  if count == 0 then
    error("no tokens in " .. tokens_file)
  end
end

function request()
  next_index = next_index % count + 1
  return requests_built[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
