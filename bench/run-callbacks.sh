#!/usr/bin/env bash
# Callback-path benchmark (issue 2): the real host (verify, decrypt, parse, group-commit to SQLite, 200 — with the
# inbox worker handling every stored callback against an instant local WeCom stub) and, in the same run, a bare
# endpoint that only answers "success", both driven by wrk over loopback with the same requests.
# Usage: bench/run-callbacks.sh [duration-seconds=15] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
connections=${2:-64}
threads=2
for tool in wrk sqlite3; do
  command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $tool >/dev/null; }
done
# The bench's own WeCom identity: the generator signs with it and the host verifies with it.
export WeCom__CorpId=wwbench0000000001 WeCom__AgentId=1000002 WeCom__Secret=bench-secret \
  WeCom__Token=benchtoken WeCom__EncodingAesKey=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
export Logging__LogLevel__Default=Warning

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
dotnet build -c Release bench/Bot.Bench -v q -nologo >/dev/null   # also builds Bot.Host (a project reference)
bench="dotnet bench/Bot.Bench/bin/Release/net10.0/Bot.Bench.dll"

# Enough distinct callbacks that none repeats within the host run (a repeat would be a cheap duplicate, not a store).
$bench gen-callbacks "$work/requests.tsv" $((duration * 15000))

wait_up() { local deadline=$((SECONDS + 60)); until curl -fs "$1" >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { echo "$1 did not come up" >&2; exit 1; }; sleep 0.2; done; }

run_wrk() { # name url
  local out="$work/$1.txt"
  wrk -t$threads -c"$connections" -d"${duration}s" --latency -s bench/callbacks.lua "$2" -- "$work/requests.tsv" $threads > "$out"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  echo "$1: ${rps} req/s, p50 ${p50}, p99 ${p99}" >&2
  grep -E "Non-2xx|Socket errors|requests in" "$out" >&2 || true
  echo "$rps"
}

# Bare endpoint first.
$bench bare-endpoint --urls http://127.0.0.1:5081 & bare_pid=$!; pids+=($bare_pid)
wait_up http://127.0.0.1:5081/
bare=$(run_wrk bare http://127.0.0.1:5081)
kill $bare_pid; wait $bare_pid 2>/dev/null || true

# WeCom for the host: the same minimal app answers every /cgi-bin call at once, so handling never waits on WeCom.
$bench bare-endpoint --urls http://127.0.0.1:5083 & stub_pid=$!; pids+=($stub_pid)
wait_up http://127.0.0.1:5083/

# The real host, on its embedded defaults (SQLite in WAL mode), with the bench's WeCom secrets.
WeCom__ApiBaseUrl=http://127.0.0.1:5083/cgi-bin/ ConnectionStrings__Bot="Data Source=$work/bench.db" Rules__Path="$(pwd)/rules" \
  dotnet Bot.Host/bin/Release/net10.0/Bot.Host.dll --urls http://127.0.0.1:5082 & host_pid=$!; pids+=($host_pid)
wait_up http://127.0.0.1:5082/healthz
real=$(run_wrk host http://127.0.0.1:5082)
kill $host_pid; wait $host_pid 2>/dev/null || true

stored=$(sqlite3 "$work/bench.db" "SELECT COUNT(*) FROM inbox" 2>/dev/null || echo "?")
handled=$(sqlite3 "$work/bench.db" "SELECT COUNT(*) FROM inbox WHERE state = 'handled'" 2>/dev/null || echo "?")
echo "stored callbacks: $stored in ${duration}s ($(awk -v s="$stored" -v d="$duration" 'BEGIN{ if (s ~ /^[0-9]+$/) printf "%.0f", s/d; else print "?" }')/s); handled by the worker during the run: $handled"
awk -v r="$real" -v b="$bare" 'BEGIN { printf "full path / bare endpoint throughput: %.2f\n", r/b }'
