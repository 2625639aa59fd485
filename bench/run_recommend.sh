#!/usr/bin/env bash
# Regenerate bench/results/recommend.md and one recommend-<dataset>.json per dataset.
#
# Every dataset goes through the real embedded store (ingest -> export -> featurize -> train on train, early-stop
# on valid Recall@20 -> all-ranking test). In the same run, on the same split and under the same budget: the α
# sweep of our model and the baselines (popularity, implicit ALS, RecBole BPR, LightGCN, KGAT, KGIN).
#
# Usage: bash bench/run_recommend.sh [datasets...]   (default: the three recommendation datasets)
#   KGP_BENCH_BUDGET=S  training budget per model in seconds (default 300; the issue allows up to 600)
# Our model's settings: bench/configs/recommend.json (one torch thread: the 2 cores are shared with the store).
set -euo pipefail
cd "$(dirname "$0")/.."
export KGP_HOME=${KGP_HOME:-.kgp-bench} KGP_FALKORDB_PORT=${KGP_BENCH_PORT:-6391}
budget=${KGP_BENCH_BUDGET:-300}
datasets=${*:-lastfm-kgcn ml100k-fb amazon-giftcards-2018-rec}
for d in $datasets; do
  echo "== $d: $budget s per model" >&2
  .venv/bin/kgp bench recommend --data "../shared/datasets/$d" --time-budget "$budget" \
    --train-config bench/configs/recommend.json --out "bench/results/recommend-$d.json" --json > /dev/null
done
reports=()
for d in lastfm-kgcn ml100k-fb amazon-giftcards-2018-rec; do
  [ -f "bench/results/recommend-$d.json" ] && reports+=("bench/results/recommend-$d.json")
done
.venv/bin/kgp bench recommend-table "${reports[@]}" --markdown bench/results/recommend.md
