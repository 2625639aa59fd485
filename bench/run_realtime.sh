#!/usr/bin/env bash
# Regenerate bench/results/realtime.{json,md}: new products inserted into a loaded amazon-magazine-2018 graph,
# 1, 10 and 100 at a time; seconds until their predicted links are visible, direct and through a Celery worker.
# Protocol: kgplatform/bench/realtime.py. Run it on a quiet machine: the figures are wall-clock latencies.
#
# Usage: bash bench/run_realtime.sh [dataset]     (default amazon-magazine-2018 -> realtime.json; another
#        dataset -> realtime-<dataset>.json)
set -euo pipefail
cd "$(dirname "$0")/.."
export KGP_HOME=${KGP_HOME:-.kgp-bench} KGP_FALKORDB_PORT=${KGP_BENCH_PORT:-6391}
d=${1:-amazon-magazine-2018}
name=realtime
[ "$d" = amazon-magazine-2018 ] || name="realtime-$d"  # realtime.json stays the magazine run
before=()
[ -f "bench/results/$name-before.json" ] && before=(--before "bench/results/$name-before.json")
.venv/bin/kgp bench realtime --data "../shared/datasets/$d" --time-budget "${KGP_BENCH_BUDGET:-300}" "${before[@]}" \
  --out "bench/results/$name.json" --md "bench/results/$name.md"
