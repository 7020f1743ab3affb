"""Augmentation on the device, for a whole batch at once (no per-image Python).

Random crop with zero padding and horizontal flip are one ``gather``: every
output pixel's source index in the padded image is computed for the batch, so
a crop-and-flip costs one read of the batch.

``flip`` alone has two views of each image, so a teacher's outputs can still be
cached: compute them for ``x`` and ``x.flip(3)`` once, then per batch draw the
flips with :func:`draw_flips`, apply them with :func:`apply_flips` and pick the
matching cached row. ``augment_batch(x, "flip", g)`` is exactly that pair of
calls, so both paths see the same images for the same generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("none", "flip", "crop", "crop_flip")


def draw_flips(n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Which of ``n`` images to flip: a bool tensor (drawn on the CPU, moved to ``device``
    without waiting for the device: a blocking copy would stall every training step)."""
    return (torch.rand(n, generator=generator) < 0.5).to(device, non_blocking=True)


def apply_flips(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Flip (horizontally) the images of ``x`` where ``flips`` is true."""
    return torch.where(flips[:, None, None, None], x.flip(3), x)


def default_crop_padding(size: int) -> int:
    """The crop's zero padding for images ``size`` pixels a side: 4 from 32 px (CIFAR's),
    2 below (28x28 MNIST and Fashion-MNIST, 8x8 digits)."""
    return 4 if size >= 32 else 2


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator | None = None,
                  pad: int | None = None) -> torch.Tensor:
    """Random horizontal flip (``flip``), a random crop after zero padding (``crop``), or
    both (``crop_flip``); ``pad`` defaults to :func:`default_crop_padding`.

    ``x`` is ``(N, C, H, W)`` on any device; the random draws use ``generator``
    (a CPU generator, so runs are reproducible on every device). The inputs are
    already normalised, so the padding is the channel mean (zero).

    >>> x = torch.arange(16.).view(1, 1, 4, 4)
    >>> augment_batch(x, "crop_flip", torch.Generator().manual_seed(0), pad=1).shape
    torch.Size([1, 1, 4, 4])
    """
    if kind == "none":
        return x
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {kind!r}; known: {', '.join(AUGMENTATIONS)}")
    n, c, h, w = x.shape
    pad = default_crop_padding(min(h, w)) if pad is None else pad
    if kind == "crop":
        flip = torch.zeros(n, dtype=torch.bool, device=x.device)
    else:
        flip = draw_flips(n, generator, x.device)
    if kind == "flip":
        return apply_flips(x, flip)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device, non_blocking=True)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device, non_blocking=True)
    hp, wp = h + 2 * pad, w + 2 * pad
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (N, H) rows of the padded image
    j = torch.arange(w, device=x.device)
    # the window starts at dx of the (flipped, padded) image; unflipped that is column wp-1-dx-j
    cols = torch.where(flip[:, None], (wp - 1 - dx)[:, None] - j, dx[:, None] + j)  # (N, W)
    index = (rows[:, :, None] * wp + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    padded = F.pad(x, (pad, pad, pad, pad)).view(n, c, hp * wp)
    return padded.gather(2, index).view(n, c, h, w)
