#!/usr/bin/env bash
# Durable deliveries per second: the axum receiver storing every delivery before its 200,
# on the in-memory store, on SQLite (group commit, WAL, synchronous=FULL) and on
# PostgreSQL, and publishing it to NATS JetStream and RabbitMQ (the 200 after the broker's
# confirm), with the disk's fsync ceiling and a plain route beside them. Loopback only;
# bounded runs. The brokers are the script's own (a nats-server and a RabbitMQ node on
# ports 3103 and 3104, their files in the work directory), so nothing stays behind.
#
#   tools/bench-pipeline.sh [connections] [requests]
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-32}
reqs=${2:-200000}
pg=${WEBHOOK_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
cargo build --release --locked -q -p axum-receiver -p webhook-load
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d "${TMPDIR:-/tmp}/webhook-bench.XXXXXX")
pid=
nats_pid=
broker=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null
  [ -f "$work/rabbit/pid" ] && kill "$(cat "$work/rabbit/pid")" 2>/dev/null && sleep 2
  rm -rf "$work"
}
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
# The drain: how long after the load stops until every accepted delivery has been handled
# (the sum of webhook_handler_runs_total{result="ok"|"ignored"} reaches that of
# webhook_requests_total{outcome="accepted"}), polled every 50 ms for at most 120 s.
drain() {
  local start now accepted handled
  start=$(date +%s%N)
  for _ in $(seq 2400); do
    read -r accepted handled < <(curl -s http://127.0.0.1:3101/metrics | awk '
      /^webhook_requests_total\{/ && /outcome="accepted"/ {a += $NF}
      /^webhook_handler_runs_total\{/ && /result="(ok|ignored)"/ {h += $NF}
      END {printf "%d %d\n", a, h}')
    if [ "$accepted" -gt 0 ] && [ "$handled" -ge "$accepted" ]; then
      now=$(date +%s%N)
      awk -v t="$((now - start))" -v n="$handled" 'BEGIN {printf "  drain                  %6.2f s after the load (%d handled)\n", t / 1e9, n}'
      return
    fi
    sleep 0.05
  done
  echo "  drain                  not done after 120 s ($handled handled of $accepted accepted)"
}
run() { # label database-url [VAR=value ...]
  env "${@:3}" GITHUB_WEBHOOK_SECRET=s3cret WEBHOOK_ADDR=127.0.0.1:3101 DATABASE_URL=$2 RUST_LOG=warn \
    "$bin/axum-receiver" >"$work/receiver.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3101) 2>/dev/null && break; sleep 0.1; done
  threads >"$work/cpu.before"
  # The broker's own CPU too (a process of this script's: $broker), when there is one.
  [ -n "$broker" ] && broker_before=$(awk '{print $14 + $15}' "/proc/$broker/stat")
  # The load tool's own CPU (user + system) is printed too: it shares the two cores.
  TIMEFORMAT="  load tool              %U s user + %S s system CPU"
  time { "$bin/webhook-load" run --url http://127.0.0.1:3101/webhooks/github --secret s3cret \
    --connections "$conns" --requests "$reqs" --max-seconds 30 --label "$1" | tee "$work/load.out" || true; }
  [ -z "$broker" ] && drain
  threads >"$work/cpu.after"
  measured=$(grep -oE '\(([0-9]+) measured' "$work/load.out" | grep -oE '[0-9]+' || echo 0)
  # The 2 000 warm-up requests (webhook-load's default) are sent but not measured: divide
  # the CPU by every delivery that was sent.
  sent=$(( measured + 2000 ))
  join "$work/cpu.before" "$work/cpu.after" | awk -v n="$sent" -v hz="$(getconf CLK_TCK)" \
    'n > 0 && $3 > $2 {printf "  %-22s %6.2f s CPU  %5.1f us per delivery\n", $1, ($3 - $2) / hz, ($3 - $2) * 1e6 / hz / n}'
  if [ -n "$broker" ]; then
    broker_after=$(awk '{print $14 + $15}' "/proc/$broker/stat")
    awk -v n="$sent" -v hz="$(getconf CLK_TCK)" -v t="$((broker_after - broker_before))" \
      'BEGIN {printf "  %-22s %6.2f s CPU  %5.1f us per delivery\n", "broker", t / hz, t * 1e6 / hz / n}'
  fi
  { curl -s http://127.0.0.1:3101/metrics || true; } |
    { grep -E '^webhook_(commit_(batch_size|duration_seconds)|sqlite_turn_(jobs|seconds)|publish_duration_seconds)_(sum|count)' || true; } |
    tr '\n' ' ' ; echo
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

# The broker sinks: the same receiver, publishing each delivery instead of storing it (no
# consumer runs: the deliveries stay in the broker until the script's cleanup).
port_up() { for _ in $(seq "$2"); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
if command -v nats-server >/dev/null; then
  nats-server -a 127.0.0.1 -p 3103 -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
  nats_pid=$!
  if port_up 3103 100; then
    broker=$nats_pid
    run nats-jetstream "memory:" WEBHOOK_SINK=nats://127.0.0.1:3103
    broker=
  else
    echo "nats: not run (nats-server did not start: $work/nats.log)"
  fi
  kill "$nats_pid"; wait "$nats_pid" 2>/dev/null || true; nats_pid=
else
  echo "nats: not run (no nats-server)"
fi
# Debian's rabbitmq-server, run directly (the wrapper in /usr/sbin switches to the rabbitmq
# user): a node of its own, no plugins, its database, logs and Erlang cookie under $work.
rabbit=${WEBHOOK_BENCH_RABBITMQ_SERVER:-/usr/lib/rabbitmq/bin/rabbitmq-server}
if [ -x "$rabbit" ]; then
  r=$work/rabbit
  mkdir -p "$r/home"
  HOME=$r/home RABBITMQ_CONF_ENV_FILE=/dev/null RABBITMQ_CONFIG_FILE=$r/rabbitmq \
    RABBITMQ_ADVANCED_CONFIG_FILE=$r/advanced.config RABBITMQ_ENABLED_PLUGINS_FILE=$r/enabled_plugins \
    RABBITMQ_NODENAME=webhookbench$$@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=3104 \
    RABBITMQ_DIST_PORT=3105 RABBITMQ_MNESIA_BASE=$r/mnesia RABBITMQ_LOG_BASE=$r/log RABBITMQ_PID_FILE=$r/pid \
    ERL_EPMD_ADDRESS=127.0.0.1 ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$rabbit" >"$work/rabbit.log" 2>&1 &
  # A boot takes 15-30 s on two busy cores.
  if port_up 3104 1800; then
    broker=$(cat "$r/pid")
    run rabbitmq "memory:" WEBHOOK_SINK=amqp://guest:guest@127.0.0.1:3104/%2f
    broker=
  else
    echo "rabbitmq: not run (the node did not start: $r/log)"
  fi
  # The pid file holds the Erlang VM's: SIGTERM stops the node.
  [ -f "$r/pid" ] && kill "$(cat "$r/pid")" 2>/dev/null; sleep 2
else
  echo "rabbitmq: not run (no $rabbit)"
fi
