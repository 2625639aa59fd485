"""Run artefacts shared between hosts through an fsspec URL, KGP_RUNS_URL (file:///srv/kgp-runs, s3://bucket/runs).

$KGP_HOME/runs/<run id> (rundir.RunDir) stays where steps read and write: it is this host's working copy. A step
pulls its run from the URL before it starts and pushes the files it wrote once it succeeds (``synced_run``);
whatever reads another run (incremental scoring, serving, review, the report) pulls it first (``open_run``).
With KGP_RUNS_URL unset, every function here is the local run directory alone, as before.

Each file is published whole. Object stores (s3, gcs, azure) make a single PUT, or a completed multipart upload,
visible at once, so a file goes straight to its key; elsewhere it is written under a temporary name beside its key
and then moved (a rename on a local or NFS path). A host notes what it pulled and pushed in RunDir.SYNC_STATE, so
an unchanged file is not fetched again. Credentials come from the client library's own environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...): they never pass through kgplatform's settings or output.
"""

from __future__ import annotations

import fcntl
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fsspec.core import split_protocol, url_to_fs

from kgplatform.errors import KgpError
from kgplatform.graph.runs import check_run_id
from kgplatform.pipeline.rundir import RunDir
from kgplatform.settings import Settings

log = logging.getLogger(__name__)

# Where one PUT is atomic: no temporary key and move (a move there is a copy and a delete, and no more atomic).
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
# A run's file: a name, or one folder and a name (scores/shard-000-of-004.jsonl); no component starts with a dot,
# so '..' and the host's own dotfiles (SYNC_STATE, the lock) are never keys.
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,127})?$")
TEMPORARY = ".tmp"


def check_file_name(name: str) -> str:
    if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
        raise KgpError(f"invalid run file name {str(name)[:80]!r}: must match {FILE_NAME.pattern}")
    return name


def shown_url(url: str) -> str:
    """The URL without any user or password in it: what logs and `kgp` output may show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def local_stat(path: Path) -> list[int] | None:
    """What tells a file rewritten since (an atomic write replaces the inode), or None when there is none."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def local_files(out: RunDir) -> dict[str, list[int]]:
    """{name: local_stat} of the run's files in this host's working copy (no temporaries, no dotfiles)."""
    if not out.path.is_dir():
        return {}
    files = {}
    for path in out.path.rglob("*"):
        name = path.relative_to(out.path).as_posix()
        if path.is_file() and FILE_NAME.fullmatch(name) and not name.endswith(TEMPORARY):
            files[name] = local_stat(path)
    return files


def fingerprint(info: dict) -> str:
    """Changes whenever the remote file is rewritten: its ETag (object stores) or modification time, and size."""
    version = next((info[k] for k in ("ETag", "etag", "mtime", "LastModified", "last_modified", "created")
                    if info.get(k) is not None), "")
    return f"{info.get('size')}:{version}"


class RunStore:
    """The runs under one fsspec URL, and this host's working copies of them under runs_dir."""

    def __init__(self, url: str, runs_dir: Path, storage_options: dict | None = None):
        self.url = url.rstrip("/")
        self.runs_dir = Path(runs_dir)
        self.fs, root = url_to_fs(self.url, **(storage_options or {}))
        self.root = root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.put_is_atomic = bool(OBJECT_STORES & set(protocols))

    def prefix(self, run_id: str) -> str:
        """The run's folder at the URL: the id is checked before it becomes part of a key."""
        return f"{self.root}/{check_run_id(run_id)}"

    def key(self, run_id: str, name: str) -> str:
        return f"{self.prefix(run_id)}/{check_file_name(name)}"

    def shown(self, run_id: str) -> str:
        return f"{shown_url(self.url)}/{check_run_id(run_id)}"

    def remote_files(self, run_id: str) -> dict[str, str]:
        """{name: fingerprint} of the run's files at the URL; names that are not a run's file are ignored."""
        prefix = self.prefix(run_id)
        self.fs.invalidate_cache(prefix)  # another host may have written since this process last listed
        try:
            found = self.fs.find(prefix, detail=True)
        except FileNotFoundError:
            return {}
        files = {}
        for path, info in found.items():
            name = path[len(prefix) + 1:] if path.startswith(prefix + "/") else ""
            if info.get("type", "file") != "file" or name.endswith(TEMPORARY):
                continue
            if not FILE_NAME.fullmatch(name):
                log.warning("ignoring %r under %s: not a run file name", name[:80], self.shown(run_id))
                continue
            files[name] = fingerprint(info)
        return files

    def has(self, run_id: str, *names: str) -> bool:
        remote = self.remote_files(run_id)
        return all(check_file_name(name) in remote for name in names)

    # ---- pull and push ------------------------------------------------------------------------------------------

    def pull(self, run_id: str, names: Iterable[str] | None = None) -> RunDir:
        """The run's working copy with the named files (None: all of them) as they are at the URL. Files the URL
        lacks are left as they are; the folder is created only when the URL has something of the run."""
        out = RunDir.of(self.runs_dir, run_id)
        remote = self.remote_files(run_id)
        wanted = sorted(remote) if names is None else sorted({check_file_name(n) for n in names} & set(remote))
        if not wanted:
            return out
        out.create()
        with self._locked(out):
            state = self._read_state(out)
            for name in wanted:
                path = out.path / name
                seen = state.get(name) or {}
                if seen.get("remote") == remote[name] and seen.get("local") == local_stat(path):
                    continue  # this host has exactly that version already
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}{TEMPORARY}")
                self.fs.get_file(self.key(run_id, name), str(tmp))
                tmp.replace(path)
                state[name] = {"remote": remote[name], "local": local_stat(path)}
            self._write_state(out, state)
        return out

    def push(self, out: RunDir, names: Iterable[str]) -> list[str]:
        """Publish the named files of the working copy (those that exist), each one whole; returns their names."""
        names = sorted({check_file_name(n) for n in names if (out.path / check_file_name(n)).is_file()})
        if not names:
            return []
        with self._locked(out):
            for name in names:
                self._put(out.path / name, self.key(out.run_id, name))
            self._note_pushed(out, names)
        return names

    def push_changes(self, out: RunDir, before: dict[str, list[int]]) -> list[str]:
        """Publish what changed in the working copy since ``before`` (local_files), leaving out files another
        process of this host pulled or pushed meanwhile (their state says they are the URL's version)."""
        with self._locked(out):
            state = self._read_state(out)
            changed = [name for name, stat in local_files(out).items()
                       if stat != before.get(name) and stat != (state.get(name) or {}).get("local")]
            for name in sorted(changed):
                self._put(out.path / name, self.key(out.run_id, name))
            if changed:
                self._note_pushed(out, changed)
        return sorted(changed)

    def _put(self, path: Path, key: str) -> None:
        if self.put_is_atomic:
            self.fs.put_file(str(path), key)
            return
        self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{key}.{uuid.uuid4().hex[:12]}{TEMPORARY}"
        self.fs.put_file(str(path), tmp)
        self.fs.mv(tmp, key)

    def _note_pushed(self, out: RunDir, names: Iterable[str]) -> None:
        remote = self.remote_files(out.run_id)
        state = self._read_state(out)
        for name in names:
            state[name] = {"remote": remote.get(name), "local": local_stat(out.path / name)}
        self._write_state(out, state)

    # ---- this host's record of the shared copy ------------------------------------------------------------------

    @contextmanager
    def _locked(self, out: RunDir) -> Iterator[None]:
        """One pull or push at a time per run on this host (worker processes share the working copy)."""
        with open(out.path / RunDir.SYNC_LOCK, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _read_state(out: RunDir) -> dict:
        try:
            return json.loads((out.path / RunDir.SYNC_STATE).read_text())
        except (FileNotFoundError, ValueError):  # none yet, or unreadable: everything is fetched again
            return {}

    @staticmethod
    def _write_state(out: RunDir, state: dict) -> None:
        tmp = out.path / (RunDir.SYNC_STATE + TEMPORARY)
        tmp.write_text(json.dumps(state, sort_keys=True))
        tmp.replace(out.path / RunDir.SYNC_STATE)


# ---- what steps and readers call --------------------------------------------------------------------------------

def storage_options(settings: Settings) -> dict:
    protocol, _ = split_protocol(settings.runs_url or "")
    if protocol in ("s3", "s3a") and settings.runs_s3_endpoint_url:
        return {"endpoint_url": settings.runs_s3_endpoint_url}
    return {}


def run_store(settings: Settings) -> RunStore | None:
    """The shared store of KGP_RUNS_URL, or None when runs are local only."""
    if not settings.runs_url:
        return None
    try:
        return RunStore(settings.runs_url, settings.runs_dir, storage_options(settings))
    except ImportError as exc:  # e.g. s3:// without s3fs
        raise KgpError(f"KGP_RUNS_URL {shown_url(settings.runs_url)}: {exc} (pip install 'kgplatform[s3]' for "
                       "s3://)") from None


def runs_location(settings: Settings) -> str:
    """Where runs are kept, for messages: the URL (without credentials), else the local runs folder."""
    return shown_url(settings.runs_url) if settings.runs_url else str(settings.runs_dir)


def open_run(settings: Settings, run_id: str, *names: str) -> RunDir:
    """Run ``run_id`` to read: this host's working copy, refreshed from KGP_RUNS_URL when set (the named files,
    else the whole run). The folder may not exist: check with RunDir.has / exists."""
    store = run_store(settings)
    if store is None:
        return RunDir.of(settings.runs_dir, run_id)
    return store.pull(run_id, names or None)


def run_has(settings: Settings, run_id: str, *names: str) -> bool:
    """Whether the run has all these files where runs are kept (the URL when set), without fetching them."""
    store = run_store(settings)
    return store.has(run_id, *names) if store else RunDir.of(settings.runs_dir, run_id).has(*names)


def publish(settings: Settings, out: RunDir, *names: str) -> None:
    """Push these files of a working copy to KGP_RUNS_URL (nothing to do when it is unset)."""
    store = run_store(settings)
    if store is not None:
        store.push(out, names)


@contextmanager
def synced_run(settings: Settings, run_id: str) -> Iterator[RunDir]:
    """The working copy of a run a step works on: pulled from KGP_RUNS_URL first, and what the block wrote pushed
    there when it succeeds (a failed step publishes nothing; its rerun rewrites the same files)."""
    store = run_store(settings)
    if store is None:
        yield RunDir.of(settings.runs_dir, run_id).create()
        return
    out = store.pull(run_id).create()
    before = local_files(out)
    yield out
    pushed = store.push_changes(out, before)
    log.info("run %s: pushed %d files to %s", run_id, len(pushed), store.shown(run_id))
