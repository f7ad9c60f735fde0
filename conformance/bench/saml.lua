-- wrk script for conformance/bench/saml.sh: GET the SAML SSO endpoint (HTTP-Redirect binding)
-- with a signed-in session, so that every request is answered with an HTML page holding a freshly
-- signed SAMLResponse.
--
-- Usage: SSO_URL='http://127.0.0.1:PORT/bench/saml/sso?SAMLRequest=...' COOKIE='gh_session=...' \
--          wrk -t2 -c50 -d10s --latency -s saml.lua "$SSO_URL"
-- SSO_URL's path and query override wrk's URL argument (host and port come from that argument).
-- A response counts as good only if it is a 200 whose body holds a SAMLResponse form field: a
-- 303 to the sign-in page (a lost session) or an error page would otherwise pass as a fast 2xx/3xx,
-- which wrk does not count as an error. At the end one line "WRKJSON {...}" is printed with
-- req/s, latency percentiles (ms), wrk's error counts and "bad" (requests that were not good).

local sso_url = os.getenv("SSO_URL")
if sso_url and sso_url ~= "" then
  local path = sso_url:match("^https?://[^/]+(/.*)$")
  if path then wrk.path = path end
end
local cookie = os.getenv("COOKIE") or error("COOKIE not set")

wrk.method = "GET"
wrk.headers["Cookie"] = cookie
wrk.headers["Accept"] = "text/html"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  good = 0
end

function response(status, headers, body)
  if status == 200 and body and body:find('name="SAMLResponse"', 1, true) then
    good = good + 1
  else
    bad = bad + 1
    if bad == 1 then
      io.stderr:write(string.format("saml.lua: first bad response: HTTP %d\n", status))
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local nbad, ngood = 0, 0
  for _, t in ipairs(threads) do
    nbad = nbad + (t:get("bad") or 0)
    ngood = ngood + (t:get("good") or 0)
  end
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"good":%d,"bad":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"bad":%d}}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, ngood, nbad,
    e.connect, e.read, e.write, e.status, e.timeout, nbad))
end
