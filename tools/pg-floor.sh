#!/usr/bin/env bash
# PostgreSQL's own cost of the event store's statements, with no receiver: pgbench runs, per
# script, what five deliveries cost the store (a multi-row insert of five events stored
# leased, their 1.5 KB bodies, a durable commit; then their done marks and five
# handled_deliveries rows, the example handler's effects, in a second transaction), on the
# schema the receiver migrates. Prints pgbench's rate and the machine's CPU per delivery
# (all CPUs from /proc/stat, user + nice + system + irq + softirq) with pgbench's own share.
# Loopback only; bounded (clients x transactions).
#
#   tools/pg-floor.sh [clients] [scripts-per-client]
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8}
tx=${2:-2000}
pg=${WEBHOOK_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
db=webhook_floor
cargo build --release --locked -q -p axum-receiver
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d "${TMPDIR:-/tmp}/webhook-floor.XXXXXX")
cleanup() { psql "$pg/test" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
psql "$pg/test" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null
psql "$pg/test" -qc "CREATE DATABASE $db"
# The schema: the receiver migrates it (and creates handled_deliveries) as it starts.
GITHUB_WEBHOOK_SECRET=s3cret WEBHOOK_ADDR=127.0.0.1:3131 DATABASE_URL=$pg/$db RUST_LOG=warn \
  "$bin/axum-receiver" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3131) 2>/dev/null && break; sleep 0.1; done
kill "$pid"; wait "$pid" 2>/dev/null || true
cat >"$work/floor.sql" <<'SQL'
\set n random(1, 2000000000)
BEGIN;
WITH e AS (INSERT INTO webhook_events (provider, delivery_id, event_type, received_at, body_bytes, status, attempts,
    next_attempt_at, lease_until, leased_by)
  SELECT 'github', :n::text || '-' || g || '-' || :client_id, 'push', 0, 1500, 'processing', 1, 0, 60000, 'w'
  FROM generate_series(1, 5) g ON CONFLICT (provider, delivery_id) DO NOTHING RETURNING id)
INSERT INTO webhook_bodies (id, headers, body)
  SELECT id, '[["x-github-event","push"],["x-github-delivery","d"]]', convert_to(repeat('x', 1500), 'UTF8') FROM e;
END;
BEGIN;
WITH d AS (UPDATE webhook_events SET status = 'done', lease_until = NULL WHERE id IN
    (SELECT id FROM webhook_events WHERE status = 'processing' AND leased_by = 'w' LIMIT 5 FOR UPDATE SKIP LOCKED)
  RETURNING id, provider, delivery_id)
INSERT INTO handled_deliveries (event_id, provider, delivery_id, event_type, attempt, handled_at)
  SELECT id, provider, delivery_id, 'push', 1, 0 FROM d;
END;
SQL
cpu() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
before=$(cpu)
TIMEFORMAT="%U %S"
{ time pgbench -n -c "$clients" -j 2 -t "$tx" -f "$work/floor.sql" "$pg/$db" >"$work/pgbench.out" 2>&1; } 2>"$work/time"
after=$(cpu)
read -r user sys <"$work/time"
done_=$(psql -Atc "SELECT COUNT(*) FROM webhook_events WHERE status = 'done'" "$pg/$db")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(psql -Atc 'SHOW server_version' "$pg/test")"
grep -E '^(tps|latency average)' "$work/pgbench.out"
awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v n="$done_" -v u="$user" -v s="$sys" 'BEGIN {
  printf "%d deliveries done; machine CPU %.0f us per delivery, of which pgbench %.0f us\n", n, t * 1e6 / hz / n, (u + s) * 1e6 / n }'
