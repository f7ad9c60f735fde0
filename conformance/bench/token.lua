-- wrk script for conformance/bench/token.sh: POST grant_type=client_credentials with HTTP Basic
-- client authentication (client_secret_basic) to the token endpoint.
--
-- Usage: TOKEN_URL=http://127.0.0.1:3000/token CLIENT_ID=... CLIENT_SECRET=... \
--          wrk -t2 -c50 -d10s --latency -s token.lua "$TOKEN_URL"
-- TOKEN_URL's path overrides the path of wrk's URL argument (host and port come from that
-- argument). At the end one line "WRKJSON {...}" is printed with req/s, latency percentiles (ms)
-- and error counts, for the runner to parse.

local function urlencode(s)
  -- RFC 6749 2.3.1: client_id and secret are form-urlencoded before Basic encoding.
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local client_id = os.getenv("CLIENT_ID") or error("CLIENT_ID not set")
local client_secret = os.getenv("CLIENT_SECRET") or error("CLIENT_SECRET not set")
local token_url = os.getenv("TOKEN_URL")
if token_url and token_url ~= "" then
  local path = token_url:match("^https?://[^/]+(/.*)$")
  if path then wrk.path = path end
end

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. base64(urlencode(client_id) .. ":" .. urlencode(client_secret))

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
