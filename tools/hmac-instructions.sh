#!/usr/bin/env bash
# Instructions per 1 MiB verify of every HMAC provider against its bare HMAC, counted by
# callgrind (the machine's load does not move them), from the hmac_providers benchmark's
# binary in its repeat mode. Each case runs 0 and 4 times; the difference / 4 is one
# iteration, setup excluded. Under valgrind SHA-1/SHA-2 run their portable code (no SHA
# extensions), so the hash weighs more than on the hardware: the ratios bound the overhead
# from below in time, and show any extra pass over the body exactly.
#
#   tools/hmac-instructions.sh            (prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
bin=$(cargo bench -p webhook-core --bench hmac_providers --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "hmac_providers" and m.get("executable"):
        print(m["executable"])')
ir() { WEBHOOK_BENCH_REPEAT="$1:$2" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 |
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
per() { echo $(( ($(ir "$1" 4) - $(ir "$1" 0)) / 4 )); }
declare -A bare
echo "| provider | algorithm | instructions per verify | verify / bare |"
echo "|---|---|---:|---:|"
WEBHOOK_BENCH_REPEAT=list "$bin" | while read -r name algorithm; do
  n=$(per "$name")
  case $name in
    bare-*) bare[$algorithm]=$n; echo "| $name | $algorithm | $n | 1 |" ;;
    *) awk -v p="$name" -v a="$algorithm" -v n="$n" -v b="${bare[$algorithm]}" \
      'BEGIN {printf "| %s | %s | %d | %.4f× |\n", p, a, n, n / b}' ;;
  esac
done
