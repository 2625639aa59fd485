"""Lint the repository's Cypher with Neo4j's own linter (tools/cypher-lint, npm
@neo4j-cypher/language-support) and check that the linter really catches broken Cypher.

Install once: ``npm ci --prefix tools/cypher-lint``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.env import REPO

LINT_DIR = REPO / "tools" / "cypher-lint"
LINT = LINT_DIR / "lint.mjs"
CYPHER_DIR = REPO / "cypher"
NODE = shutil.which("node")

if NODE is None:
    pytestmark = pytest.mark.skip(reason="cypher lint skipped: `node` is not on PATH (install Node.js >= 20)")
elif not (LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support").is_dir():
    pytestmark = pytest.mark.skip(
        reason="cypher lint skipped: tools/cypher-lint/node_modules is not installed "
        "(run `npm ci --prefix tools/cypher-lint`)"
    )


def run_lint(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NODE, str(LINT), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_cypher_lints_clean() -> None:
    if not CYPHER_DIR.is_dir():
        pytest.skip("cypher/ does not exist yet: nothing to lint")
    result = run_lint("cypher")
    print(result.stdout, result.stderr)
    assert result.returncode == 0, f"cypher lint failed:\n{result.stdout}{result.stderr}"
    n_files = len(list(CYPHER_DIR.rglob("*.cypher")))
    assert f"cypher-lint: {n_files} files, 0 errors," in result.stdout


def test_default_path_is_repository_cypher_dir() -> None:
    if not CYPHER_DIR.is_dir():
        pytest.skip("cypher/ does not exist yet: nothing to lint")
    result = run_lint(cwd=LINT_DIR)  # no argument: ../../cypher relative to the script
    n_files = len(list(CYPHER_DIR.rglob("*.cypher")))
    assert f"cypher-lint: {n_files} files," in result.stdout, result.stdout + result.stderr


def test_broken_queries_fail_and_name_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "ok.cypher", "// header comment\nMATCH (n:Entity {id: $id})\nRETURN n.name AS name\n")
    bad = write(tmp_path, "bad.cypher", "// header comment\n// another\nMATCH (n RETURN n\n")
    unfinished = write(tmp_path, "sub/unfinished.cypher", "// ends in MATCH\nMATCH (n:Entity)\n")

    result = run_lint(tmp_path)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"{bad}:3:10: error: Invalid input 'RETURN'" in out, out
    # The recursive search found the nested file; the error sits at the end of the statement.
    assert f"{unfinished}:2:" in out, out
    assert "Query cannot conclude with MATCH" in out, out
    assert "ok.cypher" not in out, out
    assert out.strip().splitlines()[-1] == "cypher-lint: 3 files, 2 errors, 0 warnings"


def test_multi_statement_schema_file_reports_the_right_line(tmp_path: Path) -> None:
    schema = write(
        tmp_path,
        "schema.cypher",
        "// schema\n"
        "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE;\n"
        "CREATE INDEX entity_name IF NOT EXISTS FOR (n:Entity) ON (n.name);\n"
        "CREATE INDEX broken IF NOT EXISTS FOR (n:Entity ON (n.description);\n",
    )
    result = run_lint(schema)
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    assert errors and all(line.startswith(f"{schema}:4:") for line in errors), result.stdout


def test_template_identifiers_lint_as_they_are(tmp_path: Path) -> None:
    query = write(
        tmp_path,
        "writeback.cypher",
        "UNWIND $rows AS row\n"
        "MATCH (h:__LABEL__ {id: row.head})\n"
        "MATCH (t:__LABEL2__ {id: row.tail})\n"
        "MERGE (h)-[r:__REL_TYPE__ {run_id: $run_id}]->(t)\n"
        "ON CREATE SET r.created_at = timestamp(), r.predicted = true\n"
        "RETURN count(r) AS count\n",
    )
    result = run_lint(query)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "cypher-lint: 1 files, 0 errors, 0 warnings"

    # Declaring the graph's labels must not turn the placeholders into warnings either.
    schema = write(tmp_path, "schema.json", json.dumps({"labels": ["Entity"], "relationshipTypes": ["HAS_BRAND"]}))
    result = run_lint("--schema", schema, query)
    assert result.returncode == 0, result.stdout
    assert "__REL_TYPE__" not in result.stdout and "__LABEL" not in result.stdout, result.stdout


def test_undefined_parameter_is_an_error_when_not_declared(tmp_path: Path) -> None:
    query = write(tmp_path, "params.cypher", "MATCH (n:Entity {id: $id})\nWHERE n.run_id = $run_id\nRETURN n\n")

    # Default: the parameters a file uses are declared automatically.
    assert run_lint(query).returncode == 0

    result = run_lint("--no-auto-params", "--params", "id", query)
    assert result.returncode == 1
    assert f"{query}:2:18: error: Parameter $run_id is not defined." in result.stdout, result.stdout
    assert "$id is not defined" not in result.stdout


def test_unknown_function_and_apoc_procedure_are_errors(tmp_path: Path) -> None:
    write(tmp_path, "fn.cypher", "RETURN timestamp() AS now, toLower('A') AS a, no_such_fn(1) AS x\n")
    write(tmp_path, "apoc.cypher", "CALL apoc.help('x') YIELD name\nRETURN name\n")
    result = run_lint(tmp_path)
    assert result.returncode == 1
    assert "Function no_such_fn is not present in the database" in result.stdout
    assert "Procedure apoc.help is not present in the database" in result.stdout
    assert "timestamp" not in result.stdout and "toLower" not in result.stdout


def test_warnings_are_printed_but_do_not_fail(tmp_path: Path) -> None:
    query = write(tmp_path, "deprecated.cypher", "MATCH (n:Entity)\nRETURN id(n) AS internal_id\n")
    result = run_lint(query)
    assert result.returncode == 0, result.stdout
    assert f"{query}:2:8: warning:" in result.stdout
    assert "0 errors" in result.stdout and "0 warnings" not in result.stdout


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run_lint(tmp_path / "nope")
    assert result.returncode == 2
    assert "no such file or directory" in result.stderr


def test_dim_placeholder_lints_as_an_integer(tmp_path: Path) -> None:
    query = write(tmp_path, "index.cypher",
                  "CREATE VECTOR INDEX v IF NOT EXISTS FOR (n:Entity) ON n.embedding\n"
                  "OPTIONS {indexConfig: {`vector.dimensions`: __DIM__, `vector.similarity_function`: 'cosine'}}\n")
    result = run_lint(query)
    assert result.returncode == 0 and "0 warnings" in result.stdout, result.stdout


def test_falkordb_dialect_files_declare_its_routines_and_expected_ddl(tmp_path: Path) -> None:
    marker = "// dialect: falkordb\n"
    write(tmp_path, "create.cypher", marker + "CREATE VECTOR INDEX FOR (n:Entity) ON (n.embedding) "
          "OPTIONS {dimension: __DIM__, similarityFunction: 'cosine'}\n")
    write(tmp_path, "drop.cypher", marker + "DROP VECTOR INDEX FOR (n:Entity) ON (n.embedding)\n")
    write(tmp_path, "query.cypher", marker + "CALL db.idx.vector.queryNodes('Entity', 'embedding', 3, "
          "vecf32($v)) YIELD node, score\nRETURN node.id AS id, 1 - score AS similarity\n")
    result = run_lint(tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(": info: FalkorDB dialect (") == 2, result.stdout
    assert result.stdout.strip().splitlines()[-1] == "cypher-lint: 3 files, 0 errors, 0 warnings"

    # Without the marker the same query is Neo4j Cypher, where FalkorDB's routines do not exist...
    plain = write(tmp_path / "plain", "query.cypher", "CALL db.idx.vector.queryNodes('Entity', 'embedding', 3, "
                  "vecf32($v)) YIELD node, score\nRETURN node.id AS id\n")
    out = run_lint(plain).stdout
    assert "Procedure db.idx.vector.queryNodes is not present" in out and "Function vecf32 is not present" in out
    # ...and a dialect file still fails on everything else.
    broken = write(tmp_path / "broken", "bad.cypher", marker + "MATCH (n:Entity)\nRETURN no_such_fn(n) AS x\n")
    result = run_lint(broken)
    assert result.returncode == 1 and "Function no_such_fn is not present" in result.stdout, result.stdout
