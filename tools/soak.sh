#!/usr/bin/env bash
# Soak: the axum receiver on SQLite (durable before every 2xx) under a steady, paced load
# for a long run, sampled every 10 s: its RSS, the queue depth, deliveries accepted and
# handled. At the end it checks what the speed issue asks of a soak: RSS and queue depth
# flat after the warm-up (growth under 10 %), no request over 100 ms (latency counted from
# each request's scheduled time), and every accepted delivery handled. Loopback only;
# bounded in time.
#
#   tools/soak.sh RATE [SECONDS] [WARMUP_SECONDS]     e.g. tools/soak.sh 1500 600 60
#
# RATE: half the maximum tools/bench-pipeline.sh measured for SQLite on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:?usage: tools/soak.sh RATE [SECONDS] [WARMUP_SECONDS]}
seconds=${2:-600}
warmup=${3:-60}
cargo build --release --locked -q -p axum-receiver -p webhook-load
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d "${TMPDIR:-/tmp}/webhook-soak.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

GITHUB_WEBHOOK_SECRET=s3cret WEBHOOK_ADDR=127.0.0.1:3111 DATABASE_URL="sqlite://$work/events.db" RUST_LOG=warn \
  "$bin/axum-receiver" >"$work/receiver.log" 2>&1 &
pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3111) 2>/dev/null && break; sleep 0.1; done
metric() { curl -s http://127.0.0.1:3111/metrics | awk -v m="$1" -v l="${2:-}" \
  'index($0, m) == 1 && index($0, l) {s += $NF} END {printf "%d\n", s}'; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); commit $(git rev-parse --short HEAD)"
echo "soak: $rate deliveries/s for $seconds s on SQLite, warm-up $warmup s"
"$bin/webhook-load" run --url http://127.0.0.1:3111/webhooks/github --secret s3cret --connections 32 \
  --rate "$rate" --requests $((rate * seconds)) --warmup $((rate * warmup)) --max-seconds "$seconds" \
  --stall-ms 100 --label soak >"$work/load.out" 2>&1 &
load=$!
echo "seconds,rss_kib,queue_depth,accepted,handled" | tee "$work/soak.csv"
start=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
  sleep 10
  echo "$(( $(date +%s) - start )),$(rss),$(metric webhook_queue_depth),$(metric webhook_requests_total 'outcome="accepted"'),$(metric webhook_handler_runs_total 'result="ok"')" |
    tee -a "$work/soak.csv"
done
wait "$load" || true
cat "$work/load.out"
# Every accepted delivery handled: wait (bounded) for the workers to catch up.
for _ in $(seq 120); do
  [ "$(metric webhook_handler_runs_total 'result="ok"')" -ge "$(metric webhook_requests_total 'outcome="accepted"')" ] && break
  sleep 1
done
accepted=$(metric webhook_requests_total 'outcome="accepted"')
handled=$(metric webhook_handler_runs_total 'result="ok"')
cp "$work/soak.csv" "${SOAK_CSV:-/dev/null}" 2>/dev/null || true
awk -F, -v w="$warmup" -v acc="$accepted" -v hd="$handled" -v out="$(cat "$work/load.out")" '
  NR > 1 && $1 >= w && !base { base = $2; qbase = $3 }
  NR > 1 && $1 >= w { last = $2; if ($3 > qmax) qmax = $3 }
  END {
    growth = base ? (last - base) / base * 100 : 0
    printf "RSS after warm-up %d KiB, at the end %d KiB: %+.1f %% (%s)\n", base, last, growth, growth < 10 ? "flat" : "GROWING"
    printf "queue depth after warm-up: at most %d\n", qmax
    printf "accepted %d, handled %d (%s)\n", acc, hd, hd >= acc ? "all handled" : "NOT ALL HANDLED"
    split(out, a, "stalls>100ms"); split(a[2], b, " "); printf "requests over 100 ms: %s\n", b[1]
  }' "$work/soak.csv"
