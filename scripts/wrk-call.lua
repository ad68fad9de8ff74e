-- wrk script for scripts/bench-wrk.sh: a 1 KiB tools/call (echo) in the 2025 session whose id is
-- in the file named by SESSION_FILE. Each request gets its own JSON-RPC id (rmcp answers only one
-- of two requests in flight with the same id); run wrk with one thread (-t1).
local f = assert(io.open(os.getenv("SESSION_FILE")))
local session = f:read("*l")
f:close()
local message = string.rep("x", 1024)
local id = 100
wrk.method = "POST"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["content-type"] = "application/json"
wrk.headers["mcp-session-id"] = session
wrk.headers["mcp-protocol-version"] = "2025-11-25"
request = function()
  id = id + 1
  return wrk.format(nil, nil, nil, '{"jsonrpc":"2.0","id":' .. id ..
    ',"method":"tools/call","params":{"name":"echo","arguments":{"message":"' .. message .. '"}}}')
end
