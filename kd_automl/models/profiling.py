"""Parameters, FLOPs (torch's own flop counter) and measured latency of a model."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class Profile:
    """What a model costs. FLOPs count a multiply-add as 2, per sample, forward pass."""

    params: int
    flops: int
    latency_ms: float | None = None  # median forward time of one batch on ``device``
    batch_size: int = 1
    device: str = "cpu"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_latency(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1,
                    warmup: int = 2, repeats: int = 10, budget_s: float = 1.0,
                    device: torch.device | str | None = None) -> float:
    """Median wall time in milliseconds of one eval-mode forward pass of ``batch_size`` inputs.

    Stops early once ``budget_s`` seconds are spent (at least one timed run).
    """
    device = torch.device(device) if device is not None else _device_of(model)
    was_training = model.training
    model.eval()
    x = torch.zeros((batch_size, *input_shape), device=device)
    try:
        for _ in range(warmup):
            model(x)
        _sync(device)
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < repeats and (not times or time.perf_counter() - start < budget_s):
            t0 = time.perf_counter()
            model(x)
            _sync(device)
            times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    return 1000.0 * statistics.median(times)


def profile(model: nn.Module, input_shape: tuple[int, ...],
            device: str | torch.device | None = None, *, latency: bool = True,
            batch_size: int = 1) -> Profile:
    """Parameters and per-sample forward FLOPs for ``input_shape`` (no batch dimension), and
    the measured latency of a ``batch_size`` batch on ``device`` (default: the model's own).

    >>> profile(nn.Linear(8, 4), (8,), latency=False)
    Profile(params=36, flops=64, latency_ms=None, batch_size=1, device='cpu')
    """
    device = torch.device(device) if device is not None else _device_of(model)
    was_training = model.training
    model.eval()
    x = torch.zeros((1, *input_shape), device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    ms = measure_latency(model, input_shape, batch_size, device=device) if latency else None
    return Profile(params=count_params(model), flops=int(counter.get_total_flops()),
                   latency_ms=ms, batch_size=batch_size, device=str(device))
