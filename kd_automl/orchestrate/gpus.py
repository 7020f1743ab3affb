"""Which GPU each worker gets: worker i runs on visible GPU ``i mod n``."""

from __future__ import annotations

import os

from kd_automl.errors import KDAutoMLError


def visible_gpus(requested: list[int] | None = None) -> list[str]:
    """GPU ids to spread workers over: ``requested``, else ``CUDA_VISIBLE_DEVICES``, else all."""
    if requested:
        return [str(g) for g in requested]
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no CUDA runtime at all
        return []


def parse_gpus(text: str | None) -> list[int] | None:
    """``"0,1"`` -> ``[0, 1]``; None or empty: None (every visible GPU)."""
    if not text:
        return None
    try:
        return [int(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise KDAutoMLError(f"--gpus {text!r}: give GPU ids separated by commas, "
                            "e.g. 0,1") from None


def gpu_for_worker(worker: int, gpus: list[str]) -> str | None:
    return gpus[worker % len(gpus)] if gpus else None
