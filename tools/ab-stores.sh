#!/usr/bin/env bash
# Builds side by side, alternated: for each build directory (one holding a release
# axum-receiver and webhook-load, e.g. from `CARGO_TARGET_DIR=/tmp/a cargo build --release
# -p axum-receiver -p webhook-load` at each commit), the plain route, SQLite at 32 and 128
# connections, PostgreSQL and the memory store, `reps` times. Per run: deliveries/s, p99,
# the drain, the receiver's CPU per delivery and PostgreSQL's (the postmaster, its
# background processes and the bench database's backends). Loopback only; bounded runs.
#
#   tools/ab-stores.sh reps requests build-dir...   (build-dir: the directory holding release/)
set -u
reps=$1; reqs=$2; shift 2
pg=postgres://postgres@127.0.0.1:5432
hz=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/ab.XXXXXX)
pgticks() { for p in $(pgrep -o -x postgres) $(ps -eo pid,args | grep -E "postgres: .*(checkpointer|background writer|walwriter|autovacuum|webhook_ab)" | grep -v grep | awk '{print $1}'); do awk '{print $14+$15}' /proc/$p/stat 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
metric() { curl -s http://127.0.0.1:3121/metrics | awk '/^webhook_requests_total\{/ && /outcome="accepted"/ {a += $NF} /^webhook_handler_runs_total\{/ && /result="(ok|ignored)"/ {h += $NF} END {printf "%d %d\n", a, h}'; }
one() { # bin label url conns
  local bin=$1 label=$2 url=$3 conns=$4
  rm -f $work/db*
  [ "${url#postgres}" != "$url" ] && { psql "$pg/test" -qc "DROP DATABASE IF EXISTS webhook_ab WITH (FORCE)" 2>/dev/null; psql "$pg/test" -qc "CREATE DATABASE webhook_ab"; }
  GITHUB_WEBHOOK_SECRET=s3cret WEBHOOK_ADDR=127.0.0.1:3121 DATABASE_URL=$url RUST_LOG=warn $bin/axum-receiver > $work/recv.log 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3121) 2>/dev/null && break; sleep 0.1; done
  local r0 p0 r1 p1 a h t0 t1 out
  r0=$(awk '{print $14+$15}' /proc/$pid/stat); p0=$(pgticks)
  out=$($bin/webhook-load run --url http://127.0.0.1:3121/webhooks/github --secret s3cret --connections $conns --requests $reqs --warmup 0 --max-seconds 30 | tail -1)
  t0=$(date +%s%N)
  for _ in $(seq 2400); do read -r a h < <(metric); [ "$a" -gt 0 ] && [ "$h" -ge "$a" ] && break; sleep 0.05; done
  t1=$(date +%s%N)
  r1=$(awk '{print $14+$15}' /proc/$pid/stat); p1=$(pgticks)
  kill $pid; wait $pid 2>/dev/null
  local rate p99
  rate=$(echo "$out" | grep -oE '[0-9]+ req/s' | grep -oE '[0-9]+'); p99=$(echo "$out" | sed -E 's/.*p99 +([0-9.]+) ms.*/\1/')
  printf "%-10s %-16s %7s/s p99 %7s ms drain %6.2f s recv %5d us pg %5d us (%d handled)\n" "$(basename "$dir")" "$label-$conns" "$rate" "$p99" "$(echo "($t1-$t0)/1000000000" | bc -l)" $(( (r1-r0)*1000000/hz/(a>0?a:1) )) $(( (p1-p0)*1000000/hz/(a>0?a:1) )) "$h"
}
plain() {
  local bin=$1
  $bin/webhook-load serve-plain --addr 127.0.0.1:3122 >/dev/null 2>&1 & local pp=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3122) 2>/dev/null && break; sleep 0.1; done
  local out; out=$($bin/webhook-load run --url http://127.0.0.1:3122/webhooks/github --secret s3cret --connections 32 --requests $reqs --warmup 0 --max-seconds 30 | tail -1)
  kill $pp; wait $pp 2>/dev/null
  printf "%-10s %-16s %7s/s\n" "$(basename "$dir")" plain-32 "$(echo "$out" | grep -oE '[0-9]+ req/s' | grep -oE '[0-9]+')"
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq $reps); do
  for dir in "$@"; do bin=$dir/release
    plain $bin
    one $bin sqlite "sqlite://$work/db.sqlite" 32
    one $bin sqlite "sqlite://$work/db128.sqlite" 128
    one $bin postgres "$pg/webhook_ab" 32
    one $bin memory "memory:" 32
  done
done
psql "$pg/test" -qc "DROP DATABASE IF EXISTS webhook_ab WITH (FORCE)" 2>/dev/null
rm -rf $work
