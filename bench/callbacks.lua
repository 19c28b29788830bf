-- wrk script: replays pre-signed, encrypted WeCom callbacks from a file (one request a line: "path?query\tbody"),
-- each thread starting at its own offset so no two threads send the same callback.
-- Arguments (after --): FILE THREADS
local counter = 0

function setup(thread)
  -- Runs in the main Lua state once per thread; gives each thread its number.
  thread:set("thread_number", counter)
  counter = counter + 1
end

local requests = {}
local index = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local path, body = line:match("^([^\t]+)\t(.*)$")
    if path then
      requests[#requests + 1] = wrk.format("POST", path, { ["Content-Type"] = "application/xml" }, body)
    end
  end
  file:close()
  local threads = tonumber(args[2]) or 1
  index = (thread_number or 0) * math.floor(#requests / threads)
end

function request()
  index = index + 1
  if index > #requests then index = 1 end
  return requests[index]
end
