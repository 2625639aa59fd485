#!/usr/bin/env bash
# Pipeline wall-clock in-process vs as a queue job on 1 and 2 worker processes (amazon-beauty-2014).
# Usage: bash bench/run_jobs.sh [TRAIN_BUDGET_SECONDS]   (default 90)
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-90}"
data="../shared/datasets/amazon-beauty-2014"
[ -f "$data/entities.tsv" ] || { echo "dataset not found: $data (expected ../shared/datasets beside the repo)" >&2; exit 2; }
# A home of its own: its embedded server, broker databases and runs are apart from any real use.
export KGP_HOME="${KGP_BENCH_HOME:-.kgp-bench}" KGP_FALKORDB_PORT="${KGP_BENCH_PORT:-6391}"
.venv/bin/kgp bench jobs --data "$data" --time-budget "$budget" --out bench/results
.venv/bin/kgp db stop
