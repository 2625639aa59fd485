#!/usr/bin/env bash
# Regenerate bench/results/yield.{json,md}: the edges the DEFAULT configuration writes at precision 0.9 on test,
# one `kgp bench linkpred` per dataset with no per-dataset config and the default training budget, then the
# yield table beside the figures before (frozen in yield.json once written) and its section in linkpred.md.
#
# Usage: bash bench/run_yield.sh [datasets...]      (default: every link-prediction dataset)
#        KGP_YIELD_ABLATIONS=1 also trains the 'graph only' and 'text only' ablations (3x the time)
set -euo pipefail
cd "$(dirname "$0")/.."
export KGP_HOME=${KGP_HOME:-.kgp-bench} KGP_FALKORDB_PORT=${KGP_BENCH_PORT:-6391}
datasets=${*:-amazon-giftcards-2018 amazon-magazine-2018 amazon-beauty-2014 codex-s wn18rr}
ablations=()
if [[ -n "${KGP_YIELD_ABLATIONS:-}" ]]; then ablations=(--ablation "graph only" --ablation "text only"); fi
for d in $datasets; do
  echo "== $d: defaults" >&2
  .venv/bin/kgp bench linkpred --data "../shared/datasets/$d" --json "${ablations[@]}" \
    --out "bench/results/linkpred-default-$d.json" > /dev/null
done
shopt -s nullglob
.venv/bin/kgp bench yield bench/results/linkpred-default-*.json --out bench/results/yield.md > /dev/null
inductive=(bench/results/inductive-*.json)
reports=(bench/results/linkpred-{amazon-*,codex-s,wn18rr}.json)
.venv/bin/kgp bench table "${reports[@]}" ${inductive[@]/#/--inductive } --yield bench/results/yield.json \
  --out bench/results/linkpred.md > /dev/null
.venv/bin/kgp db stop
