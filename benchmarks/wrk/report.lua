-- Shared by the benchmark's wrk scripts: a monotonic clock (LuaJIT ffi) and the
-- one line bench_http.py reads from wrk's output, printed by done().
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } oms_timespec;
int clock_gettime(int clock_id, oms_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("oms_timespec")
local report = {}

function report.now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1e6 + tonumber(timespec.tv_nsec) / 1e3
end

local function percentile(sorted, q)
  if #sorted == 0 then return 0 end
  return sorted[math.min(#sorted, math.floor(q * #sorted) + 1)]
end

-- `threads`: the wrk threads seen in setup(); a thread may keep `operations` (a list of
-- latencies in microseconds, one per completed operation) and `failures`.
function report.done(threads, summary, latency)
  local operations, failures = {}, 0
  for _, thread in ipairs(threads) do
    for _, value in ipairs(thread:get("operations") or {}) do operations[#operations + 1] = value end
    failures = failures + (thread:get("failures") or 0)
  end
  table.sort(operations)
  local errors = summary.errors
  io.write(string.format(
    'OMS_RESULT {"seconds": %.3f, "requests": %d, "socket_errors": %d, "status_errors": %d, ' ..
    '"p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"operations": %d, "failures": %d, "op_p50_ms": %.2f, "op_p99_ms": %.2f}\n',
    summary.duration / 1e6, summary.requests, errors.connect + errors.read + errors.write + errors.timeout,
    errors.status, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, #operations, failures, percentile(operations, 0.5) / 1e3,
    percentile(operations, 0.99) / 1e3))
end

return report
