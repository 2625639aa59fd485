#!/usr/bin/env bash
# Regenerate bench/results/linkpred.{json,md} (and one linkpred-<dataset>.json each). Every dataset goes through the
# real embedded store (ingest -> export -> featurize -> train on train, early-stop on valid -> filtered test
# metrics); PyKEEN's ComplEx and RotatE run on the same snapshot, in the same run, under the same budget.
# Usage: bash bench/run_linkpred.sh [time budget in seconds, default 300] [datasets...]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-300}
shift || true
datasets=${*:-codex-s amazon-giftcards-2018}
export KGP_HOME=${KGP_HOME:-.kgp-bench} KGP_FALKORDB_PORT=${KGP_BENCH_PORT:-6391}
.venv/bin/python -c "import pykeen" 2>/dev/null || .venv/bin/pip install -q -e ".[bench]"
for d in $datasets; do
  .venv/bin/kgp bench linkpred --data "../shared/datasets/$d" --time-budget "$budget" \
    --baseline pykeen-complex --baseline pykeen-rotate --json --out "bench/results/linkpred-$d.json" > /dev/null
done
.venv/bin/kgp bench table bench/results/linkpred-*.json --out bench/results/linkpred.md \
  --json-out bench/results/linkpred.json > /dev/null
.venv/bin/kgp db stop
