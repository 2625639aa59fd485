"""The link predictor on a GPU: the same run as on the CPU, and what it saves reloads anywhere. Runs only where torch
sees CUDA, and says so loudly when it cannot."""

from __future__ import annotations

import warnings

import pytest
import torch

from kgplatform.devices import resolve_device
from kgplatform.graph.runs import new_run_id
from kgplatform.pipeline.rundir import RunDir
from tests.support.devices import tiny_run

SKIP_REASON = ("CUDA not available: GPU tests skipped. KGP_DEVICE=cuda is checked here only by the CPU tests of "
               "tests/learn/test_devices.py; run `pytest tests/learn/test_cuda.py` on a machine with a GPU and the "
               "CUDA build of torch (docs/operations.md, 'Running on a GPU').")

if not torch.cuda.is_available():
    warnings.warn(SKIP_REASON, stacklevel=1)
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason=SKIP_REASON)]


@pytest.fixture(scope="module")
def runs():
    return tiny_run(torch.device("cpu")), tiny_run(resolve_device("cuda"))


def test_auto_picks_the_gpu():
    assert resolve_device("auto").type == "cuda"


def test_a_gpu_run_matches_the_cpu_run(runs):
    cpu, gpu = runs
    assert gpu.losses == pytest.approx(cpu.losses, rel=1e-3, abs=1e-4)  # the same batches: rounding apart
    assert gpu.test["mrr"] == pytest.approx(cpu.test["mrr"], abs=0.05)
    assert gpu.candidates[0].device.type == "cpu"  # candidates come back to the CPU
    assert torch.equal(gpu.candidates[0], cpu.candidates[0])
    assert gpu.extended_scores == pytest.approx(cpu.extended_scores, rel=1e-3, abs=1e-3)


def test_a_gpu_model_trains_on_the_gpu_and_saves_cpu_tensors(runs, tmp_path):
    _, gpu = runs
    assert {v.device.type for v in gpu.state.values()} == {"cuda"}
    out = RunDir.of(tmp_path, new_run_id()).create()
    out.save_tensor(RunDir.MODEL, gpu.state)
    saved = torch.load(out.path / RunDir.MODEL, weights_only=True)  # no map_location: as saved
    assert {v.device.type for v in saved.values()} == {"cpu"}
