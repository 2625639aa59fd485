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
  npm ci --silent --no-audit --no-fund --prefix kgplatform/review/web   # esbuild + cytoscape: the review page's bundle check
  npm ci --silent --no-audit --no-fund --prefix tests/review/browser    # playwright-core, driving Debian's chromium
else
  echo "bootstrap: npm not found; the Cypher lint (Neo4j's parser) and the review page's browser test will not run" >&2
fi
# Headless Chromium for the review page's end-to-end test (tests/test_review_page.py), from Debian's packages.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null \
      || echo "bootstrap: could not install chromium; the browser test will be skipped" >&2
  else
    echo "bootstrap: /usr/bin/chromium missing (apt-get install chromium); the browser test will be skipped" >&2
  fi
fi
echo "bootstrap: ready (.venv). Try: .venv/bin/kgp demo"
