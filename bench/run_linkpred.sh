#!/usr/bin/env bash
# Regenerate bench/results/linkpred-*.json and linkpred.md: every dataset goes through the real embedded store
# (ingest -> export -> featurize -> train on train, early-stop on valid -> filtered test metrics).
# Usage: bash bench/run_linkpred.sh [time budget in seconds, default 300] [datasets...]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-300}
shift || true
datasets=${*:-codex-s amazon-giftcards-2018}
export KGP_HOME=${KGP_HOME:-.kgp-bench}
for d in $datasets; do
  .venv/bin/kgp bench linkpred --data "../shared/datasets/$d" --time-budget "$budget" --json \
    --out "bench/results/linkpred-$d.json" > /dev/null
done
.venv/bin/kgp bench table bench/results/linkpred-*.json --out bench/results/linkpred.md
