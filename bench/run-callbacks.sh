#!/usr/bin/env bash
# Callback-path benchmark (issue 2): the real host (verify, decrypt, parse, group-commit to SQLite, 200) and, in the
# same run, a bare endpoint that only answers "success", both driven by wrk over loopback with the same requests.
# Usage: bench/run-callbacks.sh [duration-seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20}
connections=${2:-64}
for tool in wrk sqlite3; do
  command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $tool >/dev/null; }
done
# The bench's own WeCom identity: the generator signs with it and the host verifies with it.
export WeCom__CorpId=wwbench0000000001 WeCom__AgentId=1000002 WeCom__Secret=bench-secret \
  WeCom__Token=benchtoken WeCom__EncodingAesKey=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
dotnet build -c Release bench/Bot.Bench -v q -nologo >/dev/null
dotnet build -c Release Bot.Host -v q -nologo >/dev/null
bench="dotnet bench/Bot.Bench/bin/Release/net10.0/Bot.Bench.dll"

# Enough distinct callbacks that none repeats within the run (a repeat would be a cheap duplicate, not a store).
$bench gen-callbacks "$work/requests.tsv" 600000

run_wrk() { # name url
  local out="$work/$1.txt"
  wrk -t2 -c"$connections" -d"${duration}s" --latency -s bench/callbacks.lua "$2" -- "$work/requests.tsv" 0 1 > "$out"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  echo "$1: ${rps} req/s, p50 ${p50}, p99 ${p99}" >&2
  grep -E "Non-2xx|Socket errors" "$out" >&2 || true
  echo "$rps"
}

# Bare endpoint first.
$bench bare-endpoint --urls http://127.0.0.1:5081 & bare_pid=$!
until curl -fs http://127.0.0.1:5081/ >/dev/null 2>&1; do sleep 0.2; done
bare=$(run_wrk bare http://127.0.0.1:5081)
kill $bare_pid; wait $bare_pid 2>/dev/null || true

# The real host, on its embedded defaults (SQLite in WAL mode), with the bench's WeCom secrets.
ConnectionStrings__Bot="Data Source=$work/bench.db" Rules__Path="$(pwd)/rules" Logging__LogLevel__Default=Warning \
  dotnet Bot.Host/bin/Release/net10.0/Bot.Host.dll --urls http://127.0.0.1:5082 & host_pid=$!
until curl -fs http://127.0.0.1:5082/healthz >/dev/null 2>&1; do sleep 0.2; done
real=$(run_wrk host http://127.0.0.1:5082)
kill $host_pid; wait $host_pid 2>/dev/null || true

stored=$(sqlite3 "$work/bench.db" "SELECT COUNT(*) FROM inbox" 2>/dev/null || echo "?")
echo "stored callbacks: $stored in ${duration}s ($(awk -v s="$stored" -v d="$duration" 'BEGIN{ if (s ~ /^[0-9]+$/) printf "%.0f", s/d; else print "?" }')/s)"
awk -v r="$real" -v b="$bare" 'BEGIN { printf "full path / bare endpoint throughput: %.2f\n", r/b }'
