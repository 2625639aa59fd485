#!/usr/bin/env bash
# Create .venv and install kgplatform with its test tools; install the Cypher linter (Node) when npm is present.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: this takes the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[dev]"
if command -v npm >/dev/null 2>&1; then
  npm ci --silent --no-audit --no-fund --prefix tools/cypher-lint
else
  echo "bootstrap: npm not found; the Cypher lint (Neo4j's parser) will not run" >&2
fi
echo "bootstrap: ready (.venv). Try: .venv/bin/kgp demo"
