"""Augmentation on the device, for a whole batch at once (no per-image Python)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("none", "flip", "crop_flip")


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator | None = None,
                  pad: int = 4) -> torch.Tensor:
    """Random horizontal flip (``flip``), plus a random crop after zero padding (``crop_flip``).

    ``x`` is ``(N, C, H, W)`` on any device; the random draws use ``generator``
    (a CPU generator, so runs are reproducible on every device).
    """
    if kind == "none":
        return x
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)
    if kind == "flip":
        return x
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (N, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (N, W)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.contiguous_format)
