"""No password from a URI in what kgplatform prints or raises: ``mask_uri``, the Neo4j store's errors (the driver
quotes the whole URI in its own) and the CLI's error line. No Neo4j server is needed: nothing listens on port 1."""

from __future__ import annotations

import traceback

import pytest

from kgplatform.errors import StoreError, TransientStoreError
from kgplatform.graph.uris import Redactor, mask_uri
from tests.support.env import run_kgp

SECRET = "s3cret"
AUTH_PASSWORD = "auth-" + "pw" * 6  # the password given apart from the URI (NEO4J_PASSWORD)


@pytest.mark.parametrize(("uri", "masked"), [
    (f"neo4j://user:{SECRET}@127.0.0.1:1", "neo4j://***@127.0.0.1:1"),
    (f"redis://:{SECRET}@redis:6379/1", "redis://***@redis:6379/1"),
    (f"bolt+s://user:{SECRET}@db.example:7687/x?y=1#z", "bolt+s://***@db.example:7687/x?y=1#z"),
    (f"redis://:a/b?c#{SECRET}@host:6379/0", "redis://***@host:6379/0"),  # unencoded '/', '?', '#' in it
    (f"neo4j://user:p@{SECRET}@[::1]:7687", "neo4j://***@[::1]:7687"),  # and '@'
    (f"redis://:{SECRET}@host:notaport/0", "redis://***@host:notaport/0"),  # no port check, no exception
    (f"user:{SECRET}@host:7687", "***@host:7687"),  # no scheme
    ("neo4j://127.0.0.1:7687", "neo4j://127.0.0.1:7687"),
    ("", ""),
    (None, None),
])
def test_mask_uri(uri, masked):
    assert mask_uri(uri) == masked


def test_redactor_removes_the_password_in_any_form():
    redact = Redactor(f"neo4j://user:{SECRET}%21@host:1", AUTH_PASSWORD, "pw")
    message = (f"bad URI neo4j://user:{SECRET}%21@host:1; parsed password {SECRET}!; user:{SECRET}%21; "
               f"auth {AUTH_PASSWORD}; a pw too short to look for")
    clean = redact(message)
    assert SECRET not in clean and AUTH_PASSWORD not in clean
    assert "neo4j://***@host:1" in clean and "a pw too short" in clean


def assert_nothing_secret(exc: BaseException, *secrets: str) -> str:
    shown = "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret not in str(exc) and secret not in shown, shown
    assert exc.__cause__ is None and exc.__suppress_context__, "the driver's error (with the URI) must not be chained"
    return shown


@pytest.mark.parametrize("uri", [
    f"neo4j://user:{SECRET}@127.0.0.1:1",  # the driver: "URI userinfo is not supported ... Given URI: '...'"
    f"bolt://user:{SECRET}@127.0.0.1:1",
    f"foo://user:{SECRET}@127.0.0.1:1",  # unknown scheme
    f"neo4j://user:{SECRET}@127.0.0.1:notaport",
])
def test_neo4j_store_never_shows_the_uri_password(uri):
    from kgplatform.graph.neo4j import Neo4jStore

    with pytest.raises(StoreError) as caught:
        Neo4jStore(uri, "neo4j", AUTH_PASSWORD, "neo4j", retry_s=0)
    assert_nothing_secret(caught.value, SECRET, AUTH_PASSWORD)
    assert mask_uri(uri) in str(caught.value)  # which setting is wrong, without its secret


@pytest.mark.parametrize("read_only", [False, True])
def test_neo4j_query_errors_name_the_masked_address(read_only):
    from kgplatform.graph.neo4j import Neo4jStore

    uri = "neo4j://127.0.0.1:1"  # nothing listens: ServiceUnavailable, retried for retry_s
    store = Neo4jStore(uri, "neo4j", AUTH_PASSWORD, "neo4j", retry_s=0)
    try:
        with pytest.raises(TransientStoreError) as caught:
            store.query("RETURN 1", read_only=read_only)
    finally:
        store.close()
    assert_nothing_secret(caught.value, AUTH_PASSWORD)
    assert "neo4j://127.0.0.1:1" in str(caught.value)


def test_cli_error_line_never_shows_the_uri_password(tmp_path):
    """The real CLI in a child: one error line naming the masked URI, no traceback, no password."""
    env = {"KGP_STORE": "neo4j", "NEO4J_URI": f"neo4j://user:{SECRET}@127.0.0.1:1", "NEO4J_PASSWORD": AUTH_PASSWORD,
           "KGP_HOME": str(tmp_path), "KGP_NEO4J_RETRY_S": "0"}
    done = run_kgp("cypher", "RETURN 1", env=env, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert SECRET not in output and AUTH_PASSWORD not in output, output
    assert "neo4j://***@127.0.0.1:1" in output and "Traceback" not in output, output
