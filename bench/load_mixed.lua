-- wrk script for bench/load_mixed.py: a mix of access checks, creates and reviews.
--
-- Reads the tokens the Python driver wrote (LOAD_TOKENS, one "kind name token" a line:
-- kind is check, requester or reviewer). Each wrk thread sends, per request it is asked
-- for: a review of a request this thread created (while it has one waiting), else a create
-- (CREATE_SHARE of the time), else an access check by the integration account. Responses
-- are told apart by their bodies, because wrk does not say which request a response
-- answers: a 201 with "state":"PENDING" is a create, whose id is queued for review.

local tokens = { check = {}, requester = {}, reviewer = {} }
local CREATE_SHARE = tonumber(os.getenv("LOAD_CREATE_SHARE") or "0.15")

for line in io.lines(os.getenv("LOAD_TOKENS")) do
  local kind, name, key = line:match("^(%S+) (%S+) (%S+)$")
  table.insert(tokens[kind], { name = name, key = key })
end

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + id * 7919)
  waiting = {}      -- ids of requests this thread created, to review
  sent = { check = 0, create = 0, review = 0 }
  got = { check = 0, create = 0, review = 0, other = 0, errors = 0 }
  checks_allowed = 0
end

local function pick(list)
  return list[math.random(#list)]
end

local function auth(entry)
  return { ["Authorization"] = "Token " .. entry.key, ["Content-Type"] = "application/json" }
end

function request()
  if #waiting > 0 then
    local request_id = table.remove(waiting, 1)
    sent.review = sent.review + 1
    local body = '{"state": "APPROVED", "reason": "load run: approved"}'
    return wrk.format("POST", "/api/v1/requests/" .. request_id .. "/reviews/",
      auth(pick(tokens.reviewer)), body)
  end
  if math.random() < CREATE_SHARE then
    sent.create = sent.create + 1
    local role = (math.random() < 0.5) and "db-admin" or "dev-admin"
    local body = '{"roles": ["' .. role .. '"], "reason": "load run: INC-' ..
      math.random(1, 99999) .. '", "max_duration": "1h"}'
    return wrk.format("POST", "/api/v1/requests/", auth(pick(tokens.requester)), body)
  end
  sent.check = sent.check + 1
  local subject = pick(tokens.requester)
  local role = (math.random() < 0.5) and "db-admin" or "dev-admin"
  return wrk.format("GET", "/api/v1/access/check/?user=" .. subject.name .. "&role=" .. role,
    auth(pick(tokens.check)))
end

function response(status, headers, body)
  if status >= 400 then
    got.errors = got.errors + 1
    if got.errors <= 5 then
      io.stderr:write("status " .. status .. ": " .. body:sub(1, 300) .. "\n")
    end
    return
  end
  if body:find('"allowed":', 1, true) then
    got.check = got.check + 1
    if body:find('"allowed":true', 1, true) then checks_allowed = checks_allowed + 1 end
  elseif status == 201 and body:find('"state":"PENDING"', 1, true) then
    got.create = got.create + 1
    local request_id = body:match('"id":"([0-9a-f%-]+)"')
    if request_id then table.insert(waiting, request_id) end
  elseif status == 201 then
    got.review = got.review + 1
  else
    got.other = got.other + 1
  end
end

function done(summary, latency, requests)
  local totals = { check = 0, create = 0, review = 0, other = 0, errors = 0, allowed = 0 }
  for _, thread in ipairs(threads) do
    local g = thread:get("got")
    for k, v in pairs(g) do totals[k] = totals[k] + v end
    totals.allowed = totals.allowed + thread:get("checks_allowed")
  end
  -- One line the Python driver parses.
  io.write(string.format(
    "LOADMIX requests=%d duration_us=%d checks=%d allowed=%d creates=%d reviews=%d other=%d "
      .. "http_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d "
      .. "status_errors=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.0f\n",
    summary.requests, summary.duration, totals.check, totals.allowed, totals.create,
    totals.review, totals.other, totals.errors, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
