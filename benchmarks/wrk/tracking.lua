-- The public tracking page, looking up real codes in turn: wrk ... -s tracking.lua URL -- CODES_FILE
-- (one code a line). Each thread starts at its own place in the list.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("number", #threads)
end

function init(args)
  codes = {}
  for line in io.lines(args[1]) do codes[#codes + 1] = line end
  next_code = number or 1
end

function request()
  next_code = next_code % #codes + 1
  return wrk.format("GET", "/track?code=" .. codes[next_code])
end

function done(summary, latency, requests)
  report.done(threads, summary, latency)
end
