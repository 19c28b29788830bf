-- wrk script: replays pre-signed, encrypted WeCom callbacks from a file (one request a line: "path\tbody"),
-- each thread starting at its own offset so no two requests in flight carry the same callback.
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
  index = (tonumber(args[2]) or 0) * math.floor(#requests / (tonumber(args[3]) or 1))
end

function request()
  index = index + 1
  if index > #requests then index = 1 end
  return requests[index]
end
