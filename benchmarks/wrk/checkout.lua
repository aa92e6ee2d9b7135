-- Checkout: wrk ... -s checkout.lua URL -- SKU, with one connection per thread (-c = -t),
-- so that each thread is one shopper with its own session cookie and CSRF token.
-- It opens the shop page once (session + token), then repeats one operation:
-- add to cart (the shop's htmx POST) and place the order (the checkout form's POST,
-- answered by a redirect to the confirmation). Both requests count in the
-- operation's latency; an operation that does not end in that redirect is a failure.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")
local threads = {}
local FORM = "application/x-www-form-urlencoded"

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("number", #threads)
end

function init(args)
  sku = args[1]
  step, cookie, token, started, orders = "open", nil, nil, 0, 0
  operations, failures = {}, 0
end

local function post(path, body, extra)
  local headers = {["Content-Type"] = FORM, ["Cookie"] = cookie}
  for name, value in pairs(extra or {}) do headers[name] = value end
  return wrk.format("POST", path, headers, body)
end

function request()
  if step == "open" then
    return wrk.format("GET", "/")
  elseif step == "add" then
    started = report.now_us()
    return post("/cart/add", "quantity=1&sku=" .. sku .. "&csrf_token=" .. token, {["HX-Request"] = "true"})
  end
  orders = orders + 1
  return post("/checkout", "csrf_token=" .. token .. "&name=Load+Tester&email=load" .. number .. "-" ..
              orders .. "%40example.com&line1=2+Load+Lane&postal_code=1011&city=Amsterdam&country=NL" ..
              "&payment_method=bank_transfer")
end

function response(status, headers, body)
  local set_cookie = headers["Set-Cookie"]
  if set_cookie then cookie = set_cookie:match("^([^;]+)") end
  if step == "open" then
    token = body:match('name="csrf_token" value="([^"]+)"')
    if token and cookie then step = "add" else failures = failures + 1 end
  elseif step == "add" then
    if status == 200 then step = "place" else failures = failures + 1 end
  else
    local location = headers["Location"] or ""
    if status == 302 and location:find("/checkout/done$") then
      operations[#operations + 1] = report.now_us() - started
    else
      failures = failures + 1
    end
    step = "add"
  end
end

function done(summary, latency, requests)
  report.done(threads, summary, latency)
end
