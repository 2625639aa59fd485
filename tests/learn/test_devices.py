"""KGP_DEVICE: how it resolves, what it refuses, and a tiny run on the CPU through every stage that takes a device."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from kgplatform.devices import resolve_device, to_cpu
from kgplatform.errors import KgpError
from kgplatform.graph.runs import new_run_id
from kgplatform.pipeline.rundir import RunDir
from kgplatform.settings import Settings
from tests.support.devices import tiny_run

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the CPU-only case cannot run")


@no_cuda
def test_auto_is_the_cpu_without_cuda():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(Settings().device) == torch.device("cpu")  # the default is auto


@no_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "CUDA:1"])
def test_asking_for_cuda_without_it_is_an_error_naming_the_setting(spec):
    with pytest.raises(KgpError, match="KGP_DEVICE") as caught:
        resolve_device(spec)
    assert "cpu" in str(caught.value)  # says what to set instead


@pytest.mark.parametrize("spec", ["gpu0", "cuda:x", "cuda:", "mps", ""])
def test_settings_refuse_a_device_that_is_not_one(spec):
    with pytest.raises(ValidationError, match="KGP_DEVICE") as caught:
        Settings(KGP_DEVICE=spec)
    assert "auto, cpu, cuda or cuda:N" in str(caught.value)


def test_settings_accept_and_normalise_device_names(monkeypatch):
    monkeypatch.setenv("KGP_DEVICE", " Cuda:1 ")
    assert Settings().device == "cuda:1"  # validated only: resolving it is the steps' job
    assert Settings(KGP_DEVICE="cpu").device == "cpu"


def test_a_tiny_run_on_the_cpu_trains_scores_and_extends():
    run = tiny_run(torch.device("cpu"))
    assert run.losses[-1] < run.losses[0]
    assert run.test["count"] > 0 and 0 < run.test["mrr"] <= 1
    heads, tails, scores = run.candidates
    assert len(heads) and heads.device.type == tails.device.type == scores.device.type == "cpu"
    assert run.extended_scores.shape == (1, 8) and torch.isfinite(run.extended_scores).all()


def test_the_run_directory_saves_cpu_tensors_and_loads_onto_the_cpu(tmp_path):
    out = RunDir.of(tmp_path, new_run_id()).create()
    out.save_tensor(RunDir.MODEL, {"w": torch.ones(2), "nested": [torch.zeros(1)]})
    saved = torch.load(out.path / RunDir.MODEL, weights_only=True)
    assert saved["w"].device.type == "cpu" and saved["nested"][0].device.type == "cpu"
    assert out.load_tensor(RunDir.MODEL)["w"].tolist() == [1.0, 1.0]
    assert to_cpu({"a": (torch.ones(1),)})["a"][0].device.type == "cpu"
