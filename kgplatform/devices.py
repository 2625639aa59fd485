"""Which torch device a run computes on (KGP_DEVICE), and moving tensors to it and back.

Stages take a ``torch.device``; only the I/O steps read KGP_DEVICE (``device_of(settings)``). Results go back to
the CPU before anything is saved, so a run trained on a GPU reloads on any machine.
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace

import torch

from kgplatform.errors import KgpError

DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?)$"
CPU = torch.device("cpu")


def check_device_spec(spec: str) -> str:
    """The spec itself when it is auto, cpu, cuda or cuda:N; a ValueError naming KGP_DEVICE otherwise."""
    if not isinstance(spec, str) or not re.match(DEVICE_PATTERN, spec.strip().lower()):
        raise ValueError(f"KGP_DEVICE={str(spec)[:40]!r} is not a device: use auto, cpu, cuda or cuda:N "
                         "(e.g. cuda:0)")
    return spec.strip().lower()


def resolve_device(spec: str = "auto") -> torch.device:
    """auto: the first GPU when torch sees one, else the CPU. Asking for a GPU torch cannot use is an error, not a
    silent CPU run: a job meant for a GPU would otherwise take hours without saying why."""
    spec = check_device_spec(spec)
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else CPU
    if spec == "cpu":
        return CPU
    if not torch.cuda.is_available():
        raise KgpError(f"KGP_DEVICE={spec} but torch sees no CUDA device (torch {torch.__version__}, built for "
                       f"CUDA {torch.version.cuda or 'none'}): install the CUDA build of torch (docs/install.md) "
                       "or set KGP_DEVICE=cpu or auto")
    device = torch.device(spec)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise KgpError(f"KGP_DEVICE={spec} but torch sees {torch.cuda.device_count()} CUDA device(s); "
                       "use cuda:0 .. cuda:N-1 or cuda")
    return device


def device_of(settings) -> torch.device:
    """The device a step's stages compute on: KGP_DEVICE resolved."""
    return resolve_device(settings.device)


def tensor_device(value) -> torch.device:
    """Where a tensor lives; the CPU for anything else (the scorers that need no node states take z=None)."""
    return value.device if isinstance(value, torch.Tensor) else CPU


def to_device(value, device: torch.device | str):
    """Tensors moved to ``device``, inside dicts, lists, tuples and dataclasses too; anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: to_device(getattr(value, f.name), device) for f in fields(value) if f.init})
    return value


def to_cpu(value):
    """to_device(value, 'cpu'): what is saved or handed to numpy."""
    return to_device(value, CPU)


def fork_rng_devices(device: torch.device) -> list:
    """The CUDA devices whose random state torch.random.fork_rng must keep for the caller ([] on the CPU)."""
    return [device] if device.type == "cuda" else []
