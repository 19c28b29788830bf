#!/usr/bin/env bash
# Runs one benchmark suite on a Release build: bench/run.sh SUITE [args...]
# Suites: callbacks (wrk against the real host and a bare endpoint; see run-callbacks.sh), crypto, inbox, apiclient,
# limiter, broadcast, keywords, welcome-latency; `bench/run.sh help` lists their arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-help}
shift || true

need() { # command apt-package
  command -v "$1" >/dev/null && return
  echo "installing $2" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
case "$suite" in
  callbacks) need wrk wrk; need sqlite3 sqlite3 ;;
  limiter) need redis-server redis-server; need redis-benchmark redis-tools ;;
esac

if [ "$suite" = callbacks ]; then
  exec bench/run-callbacks.sh "$@"
fi
dotnet build -c Release bench/Bot.Bench -v q -nologo >/dev/null
# Bot.Bench references Bot.Host, so that build also produced bin/Release of the host (welcome-latency runs it).
exec dotnet bench/Bot.Bench/bin/Release/net10.0/Bot.Bench.dll "$suite" "$@"
