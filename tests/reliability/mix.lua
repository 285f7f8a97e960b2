-- tests/reliability/mix.lua - the soak's request mix for wrk (soak.sh with CLIENT=wrk)
--
-- wrk -t N -c N -s mix.lua URL: one connection per thread, so each thread has
-- one request in flight and its answers come back in the order it asked.
-- A thread cycles through four requests, as the soak's bash clients do:
--   1. POST /api/v1/events      a distinct repos-lock.csv (5 rows of 500 repositories)
--   2. GET /api/v1/repos.csv    gzip, unconditional: wrk's HTTP parser waits for the body of
--                               a 304 that states a Content-Length (RFC 9110 8.6 allows it,
--                               ingestd sends it), so a conditional GET would stall the thread
--   3. POST /api/v1/s3/events   10 ObjectCreated records of new keys in bucket soak
--   4. GET /api/v1/s3/objects?bucket=soak&rowsPerPage=100
-- and appends each answer to MIX_OUT/<file>-<MIX_TAG>-<thread> as the bash
-- clients' files hold it: up ("code id"), get ("code"), s3ev ("code
-- batch"), s3list ("code"). Each line opens, appends and closes its file:
-- files kept open would push the process's socket numbers past the event
-- loop size wrk gives each thread (10 + 3 x its connections), and its
-- connections would fail. MIX_TAG keeps keys and files of different wrk
-- processes apart.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local n, cur, tag, out

function init(args)
  tag = os.getenv("MIX_TAG") or "w"
  out = os.getenv("MIX_OUT")
  n = 0
end

local function put(name, line)
  local f = assert(io.open(string.format("%s/%s-%s-%d", out, name, tag, tid), "a"))
  f:write(line, "\n")
  f:close()
end

-- FNV-1a of s, as 8 hex digits (a changeset that differs per upload)
local function fnv(s)
  local h = 2166136261
  for i = 1, #s do
    h = bit.bxor(h, s:byte(i))
    h = (h * 16777619) % 4294967296
  end
  return string.format("%08x", h)
end

local function lockcsv(t)
  local h = fnv(t)
  local rows = { "origin,path,branch,changeset,publishUri,buildTool" }
  for k = 1, 5 do
    rows[#rows + 1] = string.format("github.com,soak/r%d,main,%s%d,https://repo.example.com/%s/%d.jar,maven",
      (tonumber(h:sub(1, 6), 16) + k * 97) % 500, h, k, t, k)
  end
  return table.concat(rows, "\n") .. "\n"
end

local function s3batch(t)
  local recs = {}
  for k = 0, 9 do
    recs[#recs + 1] = string.format('{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",'
      .. '"eventTime":"2026-01-02T03:04:05.000Z","eventName":"ObjectCreated:Put",'
      .. '"s3":{"s3SchemaVersion":"1.0","bucket":{"name":"soak","arn":"arn:aws:s3:::soak"},'
      .. '"object":{"key":"soak/%s/k%d","size":%d,"eTag":"d41d8cd98f00b204e9800998ecf8427e",'
      .. '"versionId":"null","sequencer":"0055AED6DCD9028%03d"}}}', t, k, k, k)
  end
  return '{"Records":[' .. table.concat(recs, ",") .. "]}"
end

function request()
  n = n + 1
  cur = n % 4
  local t = string.format("%s-%d-%d", tag, tid, n)
  if cur == 1 then
    return wrk.format("POST", "/api/v1/events", { ["Content-Type"] = "text/csv" }, lockcsv(t))
  elseif cur == 2 then
    return wrk.format("GET", "/api/v1/repos.csv", { ["Accept-Encoding"] = "gzip" })
  elseif cur == 3 then
    return wrk.format("POST", "/api/v1/s3/events", { ["Content-Type"] = "application/json" }, s3batch("b" .. t))
  end
  return wrk.format("GET", "/api/v1/s3/objects?bucket=soak&rowsPerPage=100")
end

function response(status, headers, body)
  if cur == 1 then
    put("up", status .. " " .. (body:match('"id":"([^"]*)"') or "-"))
  elseif cur == 2 then
    put("get", tostring(status))
  elseif cur == 3 then
    put("s3ev", string.format("%d b%s-%d-%d", status, tag, tid, n))
  else
    put("s3list", tostring(status))
  end
end
