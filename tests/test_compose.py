"""docker-compose.yml: valid against the Compose specification (no Docker engine needed) and wired the way
the platform needs it: Neo4j with a real healthcheck, workers that wait for it, every variable documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import REPO

COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $VAR; "$$" is Compose's escape for a literal "$".
_VAR = re.compile(r"(?<!\$)(?:\$\$)*\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")
_ENV_LINE = re.compile(r"^\s*#?\s*([A-Za-z_][A-Za-z0-9_]*)=")
PYTHON_SERVICES = ("worker-cpu", "worker-gpu", "beat", "flower")
WORKERS = ("worker-cpu", "worker-gpu")


def load_yaml(path: Path) -> dict:
    ruamel = pytest.importorskip("ruamel.yaml", reason="ruamel.yaml comes with check-jsonschema")
    return ruamel.YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not CHECK_JSONSCHEMA.exists():
        pytest.skip(f"check-jsonschema is not installed at {CHECK_JSONSCHEMA} (pip install check-jsonschema)")
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def compose_variables(node: object) -> set[str]:
    """Variables Compose interpolates: those in the parsed file's values (comments are not interpolated)."""
    if isinstance(node, dict):
        return set().union(*(compose_variables(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(compose_variables(v) for v in node))
    if isinstance(node, str):
        return {m.group(1) or m.group(2) for m in _VAR.finditer(node)}
    return set()


def documented_variables() -> set[str]:
    return {m.group(1) for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines() if (m := _ENV_LINE.match(line))}


def test_compose_file_matches_the_compose_spec() -> None:
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_invalid_key_fails_validation(tmp_path: Path) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("    image: neo4j:5-community\n",
                                   "    image: neo4j:5-community\n    helthcheck: {}\n"))
    assert "helthcheck" in broken.read_text()
    result = validate(broken)
    assert result.returncode != 0, result.stdout
    assert "helthcheck" in result.stdout + result.stderr


def test_services_present(compose: dict) -> None:
    assert {"neo4j", "redis", "worker-cpu", "worker-gpu", "beat", "flower"} <= set(compose["services"])


def test_neo4j_has_a_real_healthcheck(compose: dict) -> None:
    neo4j = compose["services"]["neo4j"]
    assert neo4j["image"].startswith("neo4j:5")
    check = neo4j["healthcheck"]
    test = " ".join(check["test"]) if isinstance(check["test"], list) else check["test"]
    assert "cypher-shell" in test and "RETURN 1" in test
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in check, f"neo4j healthcheck lacks {key}"
    assert {"7474", "7687"} <= {str(p).rsplit(":", 1)[-1] for p in neo4j["ports"]}
    assert any(str(v).endswith(":/data") for v in neo4j["volumes"])
    assert "NEO4J_AUTH" in neo4j["environment"]
    # The neo4j image turns every NEO4J_* variable into a server setting: the app's variables must stay out.
    assert "env_file" not in neo4j


def test_redis_has_a_healthcheck(compose: dict) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    assert "ping" in " ".join(redis["healthcheck"]["test"])


@pytest.mark.parametrize("name", PYTHON_SERVICES)
def test_python_services_wait_for_healthy_dependencies(compose: dict, name: str) -> None:
    depends = compose["services"][name]["depends_on"]
    assert depends["redis"]["condition"] == "service_healthy"
    if name != "flower":
        assert depends["neo4j"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", PYTHON_SERVICES)
def test_python_services_point_at_the_compose_stores(compose: dict, name: str) -> None:
    env = compose["services"][name]["environment"]
    assert env["NEO4J_URI"] == "bolt://neo4j:7687"
    assert env["KGP_STORE"] == "neo4j"
    assert env["KGP_BROKER_URL"] == "redis://redis:6379/1"
    assert env["KGP_RESULT_BACKEND"] == "redis://redis:6379/2"
    for key in ("NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        assert key in env


def test_worker_commands_and_gpu_profile(compose: dict) -> None:
    services = compose["services"]
    cpu = " ".join(services["worker-cpu"]["command"])
    assert cpu == "kgp worker --queues ${KGP_CPU_WORKER_QUEUES:-cpu,gpu} --concurrency ${KGP_WORKER_CONCURRENCY:-2}"
    assert " ".join(services["worker-gpu"]["command"]) == "kgp worker --queues gpu --concurrency 1"
    assert "profiles" not in services["worker-cpu"]
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    beat = " ".join(services["beat"]["command"])
    flower = " ".join(services["flower"]["command"])
    assert beat.startswith("celery -A workers beat")
    assert flower.startswith("celery -A workers flower") and "--port=5555" in flower


def test_every_compose_variable_is_documented_in_env_example(compose: dict) -> None:
    used = compose_variables(compose)
    assert {"NEO4J_USERNAME", "NEO4J_PASSWORD"} <= used  # the pattern really finds them
    assert "NEO4J_AUTH" not in used  # "$${NEO4J_AUTH...}" in the healthcheck is escaped, not a Compose variable
    missing = sorted(used - documented_variables())
    assert not missing, f"variables used in docker-compose.yml but not documented in .env.example: {missing}"


def test_env_example_documents_each_variable_with_a_comment() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = _ENV_LINE.match(line)
        if not m:
            continue
        # The nearest preceding line that is not another variable must be a comment.
        j = i - 1
        while j >= 0 and _ENV_LINE.match(lines[j]):
            j -= 1
        assert j >= 0 and lines[j].lstrip().startswith("#"), f".env.example:{i + 1}: {m.group(1)} has no comment"
