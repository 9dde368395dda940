#!/usr/bin/env bash
# Does the retention purge hurt the requests it runs beside? The axum receiver on SQLite,
# started on a store prefilled with handled events, under a steady paced load: once with
# events 1 day old (nothing to purge: the baseline) and once with events 8 days old, which
# its default 7-day retention purges in batches of 500 while it serves. Both runs print
# the load's latency percentiles (counted from each request's scheduled time) and the
# events purged during the run. The retention issue's target: p99 at most 20 ms with the
# purge running. Loopback only; bounded.
#
#   tools/bench-purge.sh [RATE] [SECONDS] [PREFILL]     defaults: 1000 60 300000
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}
seconds=${2:-60}
prefill=${3:-300000}
cargo build --release --locked -q -p axum-receiver -p webhook-load
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d "${TMPDIR:-/tmp}/webhook-purge.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
metric() { curl -s http://127.0.0.1:3121/metrics | awk -v m="$1" 'index($0, m) == 1 {s += $NF} END {printf "%d\n", s}'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); commit $(git rev-parse --short HEAD)"
run() { # label age-days
  local db="$work/$1.db"
  "$bin/webhook-load" prefill --db "sqlite://$db" --count "$prefill" --age-days "$2"
  GITHUB_WEBHOOK_SECRET=s3cret WEBHOOK_ADDR=127.0.0.1:3121 DATABASE_URL="sqlite://$db" RUST_LOG=warn \
    "$bin/axum-receiver" >"$work/receiver.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3121) 2>/dev/null && break; sleep 0.1; done
  "$bin/webhook-load" run --url http://127.0.0.1:3121/webhooks/github --secret s3cret --connections 32 \
    --rate "$rate" --requests $((rate * seconds)) --warmup 0 --max-seconds "$seconds" --label "$1" || true
  echo "  events purged during the run: $(metric webhook_events_purged_total) of $prefill; file $(du -sh "$db" | cut -f1)"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
echo "$rate deliveries/s for $seconds s, store prefilled with $prefill handled events"
run no-purge 1
run purging 8
