-- wrk script of tests/sh/serve_soak.sh: POSTs one instance and checks every
-- answer is 200 and byte-equal (trailing newline aside) to one of the two
-- versions' answers (SOAK_A, SOAK_B); prints the totals from all threads.
wrk.method = "POST"
wrk.body = '{"instances": [[1, 2, 3, 4]]}'
wrk.headers["Content-Type"] = "application/json"
local a, b = os.getenv("SOAK_A"), os.getenv("SOAK_B")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; n = 0; first_bad = "" end
function response(status, headers, body)
  n = n + 1
  local s = body:gsub("\n$", "")
  if status ~= 200 or (s ~= a and s ~= b) then
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. s:sub(1, 200) end
  end
end
function done(summary, latency, requests)
  local tb, tn, fb = 0, 0, ""
  for _, t in ipairs(threads) do
    tb = tb + t:get("bad"); tn = tn + t:get("n")
    if fb == "" then fb = t:get("first_bad") end
  end
  io.write(string.format("soak: %d responses, %d bad, %d socket errors (connect %d read %d write %d timeout %d), p50 %.0f us, p99 %.0f us\n",
    tn, tb, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
  if fb ~= "" then io.write("soak: first bad answer: " .. fb .. "\n") end
end
