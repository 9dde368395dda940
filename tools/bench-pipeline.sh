#!/usr/bin/env bash
# Durable deliveries per second: the axum receiver storing every delivery before its 200,
# on the in-memory store, on SQLite (group commit, WAL, synchronous=FULL) and on
# PostgreSQL, with the disk's fsync ceiling beside them. Loopback only; bounded runs.
#
#   tools/bench-pipeline.sh [connections] [requests]
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-32}
reqs=${2:-200000}
pg=${WEBHOOK_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
cargo build --release --locked -q -p axum-receiver -p webhook-load
bin=target/release
work=$(mktemp -d "${TMPDIR:-/tmp}/webhook-bench.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(rustc --version)"
"$bin/webhook-load" fsync --dir "$work" --count 5000 --max-seconds 10
# The ceiling of this host: a route that reads the body and answers 200, storing nothing.
"$bin/webhook-load" serve-plain --addr 127.0.0.1:3102 >/dev/null 2>&1 &
plain=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3102) 2>/dev/null && break; sleep 0.1; done
"$bin/webhook-load" run --url http://127.0.0.1:3102/webhooks/github --secret s3cret \
  --connections "$conns" --requests "$reqs" --max-seconds 30 --label plain-route || true
kill "$plain"; wait "$plain" 2>/dev/null || true

# CPU time (user + system, in clock ticks) of the receiver's threads, summed by thread name:
# the tokio runtime's workers and, for SQLite, the store's writer thread.
threads() { for t in /proc/"$pid"/task/*; do echo "$(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done |
  awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort; }
run() { # label database-url [VAR=value ...]
  env "${@:3}" GITHUB_WEBHOOK_SECRET=s3cret WEBHOOK_ADDR=127.0.0.1:3101 DATABASE_URL=$2 RUST_LOG=warn \
    "$bin/axum-receiver" >"$work/receiver.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3101) 2>/dev/null && break; sleep 0.1; done
  threads >"$work/cpu.before"
  # The load tool's own CPU (user + system) is printed too: it shares the two cores.
  TIMEFORMAT="  load tool              %U s user + %S s system CPU"
  time { "$bin/webhook-load" run --url http://127.0.0.1:3101/webhooks/github --secret s3cret \
    --connections "$conns" --requests "$reqs" --max-seconds 30 --label "$1" | tee "$work/load.out" || true; }
  threads >"$work/cpu.after"
  measured=$(grep -oE '\(([0-9]+) measured' "$work/load.out" | grep -oE '[0-9]+' || echo 0)
  # The 2 000 warm-up requests (webhook-load's default) are sent but not measured: divide
  # the CPU by every delivery that was sent.
  sent=$(( measured + 2000 ))
  join "$work/cpu.before" "$work/cpu.after" | awk -v n="$sent" -v hz="$(getconf CLK_TCK)" \
    'n > 0 && $3 > $2 {printf "  %-22s %6.2f s CPU  %5.1f us per delivery\n", $1, ($3 - $2) / hz, ($3 - $2) * 1e6 / hz / n}'
  curl -s http://127.0.0.1:3101/metrics |
    grep -E '^webhook_(commit_(batch_size|duration_seconds)|sqlite_turn_(jobs|seconds))_(sum|count)' | tr '\n' ' ' ; echo
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
run memory "memory:"
run sqlite "sqlite://$work/events.db"
conns_saved=$conns
conns=128; run sqlite-128conns "sqlite://$work/events128.db"
conns=256; run sqlite-256conns "sqlite://$work/events256.db"
# The same without the handler's exactly-once row (its cost).
conns=128; run sqlite-128conns-no-effects "sqlite://$work/events128n.db" WEBHOOK_RECORD_HANDLED=0
conns=$conns_saved
if psql "$pg/test" -qc "DROP DATABASE IF EXISTS webhook_bench" 2>/dev/null && psql "$pg/test" -qc "CREATE DATABASE webhook_bench"; then
  run postgres "$pg/webhook_bench"
  psql "$pg/test" -qc "DROP DATABASE IF EXISTS webhook_bench WITH (FORCE)" || true
else
  echo "postgres: not run (no server at $pg)"
fi
