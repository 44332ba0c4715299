"""The one place where the compute device is chosen, and where seeds are set."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def select_device(requested: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU; ``cpu``/``cuda``: exactly that.

    Asking for ``cuda`` on a machine without a usable GPU is an error rather than a
    silent fall-back to the CPU.
    """
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"config key 'device' is {requested!r}; use one of {list(DEVICE_CHOICES)}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "config key 'device' is 'cuda' but torch sees no CUDA device "
            f"(torch {torch.__version__}); set device: auto or cpu"
        )
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed python, numpy and torch; on the CPU this makes training bit-for-bit repeatable.

    ``threads`` fixes torch's intra-op thread count (the rule's ``threads``), since
    results of parallel reductions can depend on it.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))


def model_device(model) -> torch.device:
    """The device holding ``model``'s parameters."""
    return next(model.parameters()).device
