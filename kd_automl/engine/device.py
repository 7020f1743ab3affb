"""Device policy, in one place: CUDA when present (bf16 autocast, channels_last), else CPU.

A worker's GPU comes from ``CUDA_VISIBLE_DEVICES``, set by the orchestrator, so
``cuda`` here always means the worker's own (first visible) GPU.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch
from torch import nn


def pick_device(requested: str | None = None) -> torch.device:
    requested = requested or os.environ.get("KD_AUTOML_DEVICE")
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing on the CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    model = model.to(device)
    if device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    return model


def prepare_inputs(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device)
    if device.type == "cuda" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
