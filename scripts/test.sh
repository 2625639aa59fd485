#!/usr/bin/env bash
# The test command: ruff (lint), Neo4j's linter over every .cypher file, then the whole pytest suite (real
# FalkorDB inside).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
node tools/cypher-lint/lint.mjs cypher
exec .venv/bin/python -m pytest -q "$@"
