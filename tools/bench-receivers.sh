#!/usr/bin/env bash
# Load-test the three receivers and the plain axum ceiling with the same requests, in one
# run. Loopback only; every run is bounded by --requests and --max-seconds.
#
#   tools/bench-receivers.sh [connections] [requests]
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-32}
reqs=${2:-100000}
cargo build --release --locked -q -p axum-receiver -p actix-receiver -p tower-receiver -p webhook-load
bin=target/release
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start() { # name port
  GITHUB_WEBHOOK_SECRET=s3cret WEBHOOK_ADDR=127.0.0.1:$2 RUST_LOG=warn "$bin/$1" >/dev/null 2>&1 &
  pids+=($!)
}
"$bin/webhook-load" serve-plain --addr 127.0.0.1:3999 >/dev/null 2>&1 & pids+=($!)
start axum-receiver 3001
start actix-receiver 3002
start tower-receiver 3003
for port in 3999 3001 3002 3003; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(rustc --version)"
echo "load: $conns connections, up to $reqs signed GitHub pushes (~1.5 KB, unique ids) per target, 30 s cap"
for target in "plain-axum 3999 /" "axum 3001 /webhooks/github" "actix 3002 /webhooks/github" "tower 3003 /webhooks/github"; do
  set -- $target
  "$bin/webhook-load" run --url "http://127.0.0.1:$2$3" --secret s3cret --connections "$conns" \
    --requests "$reqs" --max-seconds 30 --label "$1"
done
