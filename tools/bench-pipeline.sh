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

run() { # label database-url
  GITHUB_WEBHOOK_SECRET=s3cret WEBHOOK_ADDR=127.0.0.1:3101 DATABASE_URL=$2 RUST_LOG=warn \
    "$bin/axum-receiver" >"$work/receiver.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3101) 2>/dev/null && break; sleep 0.1; done
  "$bin/webhook-load" run --url http://127.0.0.1:3101/webhooks/github --secret s3cret \
    --connections "$conns" --requests "$reqs" --max-seconds 30 --label "$1" || true
  curl -s http://127.0.0.1:3101/metrics | grep -E '^webhook_commit_(batch_size|duration_seconds)_(sum|count)' | tr '\n' ' ' ; echo
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
run memory "memory:"
run sqlite "sqlite://$work/events.db"
conns_saved=$conns; conns=128; run sqlite-128conns "sqlite://$work/events128.db"; conns=$conns_saved
if psql "$pg/test" -qc "DROP DATABASE IF EXISTS webhook_bench" 2>/dev/null && psql "$pg/test" -qc "CREATE DATABASE webhook_bench"; then
  run postgres "$pg/webhook_bench"
  psql "$pg/test" -qc "DROP DATABASE IF EXISTS webhook_bench WITH (FORCE)" || true
else
  echo "postgres: not run (no server at $pg)"
fi
