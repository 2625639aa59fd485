"""runstore: runs shared between hosts through KGP_RUNS_URL (here file://; tests/pipeline/test_runs_url.py runs
real steps against file:// and a real S3 server). Two KGP_HOME folders stand for two hosts."""

from __future__ import annotations

import pytest
import torch

from kgplatform.errors import KgpError
from kgplatform.graph.runs import new_run_id
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import (
    RunStore,
    open_run,
    publish,
    run_has,
    runs_location,
    shown_url,
    synced_run,
)
from kgplatform.settings import Settings

HOSTILE_IDS = ["../elsewhere", "..", "run-a\n", "a/b", "run/../../x", ".hidden", "", "x" * 200, "run\x00id", "ü-run",
               7, None]
HOSTILE_NAMES = ["../x", "/etc/passwd", "a/b/c", ".synced.json", "scores/../../x", "scores/.x", "", "x\n"]


@pytest.fixture
def shared(tmp_path):
    return tmp_path / "shared"


def host(tmp_path, name: str, url: str | None) -> Settings:
    return Settings(KGP_HOME=tmp_path / name, KGP_RUNS_URL=url)


def test_a_step_on_one_host_is_read_and_continued_on_another(tmp_path, shared):
    url = shared.as_uri()
    a, b = host(tmp_path, "host-a", url), host(tmp_path, "host-b", url)
    run_id = new_run_id()
    with synced_run(a, run_id) as out:
        out.write_json(RunDir.CONFIG, {"model": "m@1"})
        out.save_tensor(RunDir.MODEL, {"w": torch.arange(6.0)})
        out.write_jsonl(out.shard_file(0, 2), [{"head": "p:1"}])
    assert {p.relative_to(shared / run_id).as_posix() for p in (shared / run_id).rglob("*") if p.is_file()} == \
        {"config.json", "model.pt", "scores/shard-000-of-002.jsonl"}  # no temporaries, no host state

    assert run_has(b, run_id, RunDir.CONFIG, RunDir.MODEL) and not run_has(b, run_id, RunDir.METRICS)
    assert not (b.runs_dir / run_id).exists()  # run_has fetches nothing
    config_at_url = (shared / run_id / RunDir.CONFIG).stat().st_mtime_ns
    with synced_run(b, run_id) as out:
        assert torch.equal(out.load_tensor(RunDir.MODEL)["w"], torch.arange(6.0))
        assert out.read_jsonl(out.shard_file(0, 2)) == [{"head": "p:1"}]
        out.write_json(RunDir.METRICS, {"mrr": 0.5})
    assert open_run(a, run_id).read_json(RunDir.METRICS) == {"mrr": 0.5}
    assert (shared / run_id / RunDir.CONFIG).stat().st_mtime_ns == config_at_url  # only what B wrote was pushed

    # A rewrite of the same size is still seen (the fingerprint is the remote file's, not its length).
    with synced_run(a, run_id) as out:
        out.write_json(RunDir.CONFIG, {"model": "m@2"})
    assert open_run(b, run_id).read_json(RunDir.CONFIG) == {"model": "m@2"}


def test_a_failed_step_publishes_nothing(tmp_path, shared):
    a = host(tmp_path, "host-a", shared.as_uri())
    with pytest.raises(RuntimeError), synced_run(a, "run-failed") as out:
        out.write_json(RunDir.CONFIG, {"half": True})
        raise RuntimeError("the step failed")
    assert not run_has(a, "run-failed", RunDir.CONFIG)


def test_an_unchanged_file_is_not_fetched_again(tmp_path, shared):
    url = shared.as_uri()
    a, b = host(tmp_path, "host-a", url), host(tmp_path, "host-b", url)
    with synced_run(a, "run-a") as out:
        out.save_tensor(RunDir.SNAPSHOT, torch.zeros(100))
    first = (open_run(b, "run-a").file(RunDir.SNAPSHOT)).stat().st_ino
    assert open_run(b, "run-a").file(RunDir.SNAPSHOT).stat().st_ino == first
    publish(a, RunDir.of(a.runs_dir, "run-a"), RunDir.SNAPSHOT)  # pushed again: a new version at the URL
    assert open_run(b, "run-a").file(RunDir.SNAPSHOT).stat().st_ino != first


def test_without_a_url_runs_stay_in_the_local_directory(tmp_path):
    local = host(tmp_path, "host", None)
    with synced_run(local, "run-a") as out:
        out.write_json(RunDir.CONFIG, {})
    assert out.path == local.runs_dir / "run-a" and not (out.path / RunDir.SYNC_STATE).exists()
    assert run_has(local, "run-a", RunDir.CONFIG) and open_run(local, "run-a").exists()
    assert runs_location(local) == str(local.runs_dir)


@pytest.mark.parametrize("run_id", HOSTILE_IDS)
def test_a_hostile_run_id_never_becomes_a_key(tmp_path, shared, run_id):
    settings = host(tmp_path, "host", shared.as_uri())
    shared.mkdir()
    with pytest.raises(KgpError, match="invalid run id"):
        RunStore(shared.as_uri(), settings.runs_dir).key(run_id, RunDir.CONFIG)
    for call in (lambda: open_run(settings, run_id), lambda: run_has(settings, run_id, RunDir.CONFIG)):
        with pytest.raises(KgpError, match="invalid run id"):
            call()
    with pytest.raises(KgpError, match="invalid run id"), synced_run(settings, run_id):
        pass
    assert list(tmp_path.rglob("*")) == [shared]  # nothing written, here or anywhere near


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_file_name_never_becomes_a_key(tmp_path, shared, name):
    with pytest.raises(KgpError, match="invalid run file name"):
        RunStore(shared.as_uri(), tmp_path / "runs").key("run-a", name)


@pytest.mark.parametrize("run_id", [new_run_id(), "inc-1764460800000-run-20261130-051200-abc123", "run-a"])
def test_keys_stay_under_the_prefix(tmp_path, shared, run_id):
    store = RunStore(shared.as_uri(), tmp_path / "runs")
    for name in (RunDir.CONFIG, RunDir.of(tmp_path, run_id).shard_file(3, 4).relative_to(tmp_path / run_id).as_posix()):
        assert store.key(run_id, name).startswith(f"{store.root}/{run_id}/")


def test_files_at_the_url_that_are_not_run_files_are_not_pulled(tmp_path, shared):
    a = host(tmp_path, "host-a", shared.as_uri())
    (shared / "run-a" / "scores" / "deeper").mkdir(parents=True)
    for planted in ("config.json", ".synced.json", "scores/deeper/x.json", "model.pt.1234.tmp"):
        (shared / "run-a" / planted).write_text("{}")
    out = open_run(a, "run-a")
    assert {p.relative_to(out.path).as_posix() for p in out.path.rglob("*") if p.is_file()} == \
        {"config.json", RunDir.SYNC_STATE, RunDir.SYNC_LOCK}


def test_credentials_in_a_url_are_refused_and_never_shown(tmp_path):
    secret = "s3cr3t-password-value"
    with pytest.raises(ValueError) as refused:
        Settings(KGP_HOME=tmp_path, KGP_RUNS_URL=f"sftp://user:{secret}@host/runs")
    assert secret not in str(refused.value)
    assert shown_url(f"sftp://user:{secret}@host/runs") == "sftp://host/runs"
