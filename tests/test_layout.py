"""The package layout stays walkable: no import cycles (imports inside functions included), few flat modules,
core packages independent of the Celery workers, a pure learn/, and run-directory file names only in RunDir."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

from kgplatform.pipeline.rundir import RunDir
from tests.support.env import REPO

ROOTS = ("kgplatform", "workers")
# Packages that may import the Celery app: the commands that start workers, and the benchmarks that run them.
MAY_IMPORT_WORKERS = ("kgplatform.cli", "kgplatform.bench")
# What the learning stage may depend on inside the project: tensors in, tensors out. serving.ann is arrays in,
# arrays out too (numpy and faiss, no disk or server): learn/ann_candidates.py searches its indexes. devices
# resolves a device name and moves tensors.
LEARN_MAY_IMPORT = ("kgplatform.learn", "kgplatform.snapshot", "kgplatform.textnorm", "kgplatform.serving.ann",
                    "kgplatform.devices")
# The recommender likewise: its data contract, model, training and metrics, with no store, text model or files.
RECOMMEND_MAY_IMPORT = ("kgplatform.recommend", "kgplatform.snapshot", "kgplatform.devices")
# Files that share a name with a run-directory file but are something else.
OTHER_FILES_OF_THE_SAME_NAME = {"kgplatform.text.embeddings": {"config.json"}}  # a sentence-transformers model's


def module_files() -> dict[str, Path]:
    files = {}
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Project modules imported anywhere in the file (functions included), each resolved to the longest known
    module name that prefixes it ('from kgplatform.graph import cypher_files' -> kgplatform.graph.cypher_files)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.add(node.module)
    resolved = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            resolved.add(name)
    return resolved


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    edges = {}
    for module, path in files.items():
        # a package's __init__ runs before its modules: importing a module through its package is no edge back
        edges[module] = {m for m in imported_modules(path, known)
                         if m != module and not module.startswith(m + ".") and not m.startswith(module + ".")}
    return edges


def test_relative_imports_are_not_used():
    for module, path in module_files().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert not relative, f"{module}: relative imports at lines {relative}"


def test_no_import_cycles(graph):
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_few_modules_sit_directly_in_the_package():
    flat = sorted(p.name for p in (REPO / "kgplatform").glob("*.py") if p.name != "__init__.py")
    assert len(flat) <= 10, flat


def test_core_packages_never_import_the_workers(graph):
    offenders = {m: sorted(t for t in targets if t.split(".")[0] == "workers")
                 for m, targets in graph.items() if m.startswith("kgplatform") and not m.startswith(MAY_IMPORT_WORKERS)}
    assert not {m: t for m, t in offenders.items() if t}


def test_learn_stays_pure(graph):
    outside = {m: sorted(t for t in targets if t.startswith("kgplatform") and not t.startswith(LEARN_MAY_IMPORT))
               for m, targets in graph.items() if m.startswith("kgplatform.learn")}
    assert not {m: t for m, t in outside.items() if t}


def test_recommend_stays_pure(graph):
    outside = {m: sorted(t for t in targets if t.startswith("kgplatform") and t != "kgplatform"
                         and not t.startswith(RECOMMEND_MAY_IMPORT))
               for m, targets in graph.items() if m.startswith("kgplatform.recommend")}
    assert not {m: t for m, t in outside.items() if t}


def test_every_package_states_its_role():
    for init in [*(REPO / "kgplatform").rglob("__init__.py"), REPO / "workers" / "__init__.py"]:
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) == 1, f"{init.relative_to(REPO)}: needs a one-line docstring"


def test_run_directory_file_names_live_only_in_rundir():
    names = {value for key, value in vars(RunDir).items() if key.isupper() and isinstance(value, str)}
    names.discard(RunDir.SCORES)  # a plain word, used in prose too
    for module, path in module_files().items():
        if module == "kgplatform.pipeline.rundir":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        literals -= OTHER_FILES_OF_THE_SAME_NAME.get(module, set())
        assert not names & literals, f"{module} spells run-directory file names {sorted(names & literals)}"
