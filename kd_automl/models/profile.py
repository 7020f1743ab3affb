"""Parameter count and FLOPs of a model (FLOPs from torch's own flop counter)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class Profile:
    params: int
    flops: int  # per sample, forward pass


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def profile(model: nn.Module, input_shape: tuple[int, ...], device: str | torch.device = "cpu"
            ) -> Profile:
    """Parameters and forward FLOPs for one sample of ``input_shape`` (no batch dimension)."""
    was_training = model.training
    model.eval()
    x = torch.zeros((1, *input_shape), device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return Profile(params=count_params(model), flops=int(counter.get_total_flops()))
