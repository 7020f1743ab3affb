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


# RandAugment's operations (Cubuk et al. 2020; torchvision's list), each at a level v in [0, 1]
STRONG_OPS = ("identity", "autocontrast", "equalize", "rotate", "solarize", "color",
              "posterize", "contrast", "brightness", "sharpness", "shear_x", "shear_y",
              "translate_x", "translate_y")
_GEOMETRIC = STRONG_OPS[-4:] + ("rotate",)


def _gray(u: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of ``(N, C, H, W)`` images in [0, 1] (the image itself when C != 3)."""
    if u.shape[1] != 3:
        return u
    return (0.299 * u[:, :1] + 0.587 * u[:, 1:2] + 0.114 * u[:, 2:]).expand_as(u)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``b + factor (a - b)``, clamped to [0, 1] (PIL's ImageEnhance)."""
    return (b + factor * (a - b)).clamp(0, 1)


def _equalize(u: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel: each pixel becomes its empirical CDF."""
    n, c, h, w = u.shape
    flat = u.reshape(n, c, h * w).contiguous()
    ranks = torch.searchsorted(flat.sort(2).values, flat, right=True).to(u.dtype) / (h * w)
    low = ranks.amin(2, keepdim=True)
    return ((ranks - low) / (1 - low).clamp_min(1e-6)).view(n, c, h, w)


def _colour_ops(u: torch.Tensor, level: torch.Tensor, sign: torch.Tensor
                ) -> dict[str, torch.Tensor]:
    """Every colour operation applied to every image of ``u`` (pixels in [0, 1])."""
    v = level[:, None, None, None]
    factor = 1 + sign[:, None, None, None] * 0.9 * v  # enhance factors in [0.1, 1.9]
    lo, hi = u.amin((2, 3), keepdim=True), u.amax((2, 3), keepdim=True)
    gray = _gray(u)
    bits = 8 - torch.round(4 * v)  # 8 .. 4 bits kept
    step = 2 ** (8 - bits)
    blurred = F.conv2d(F.pad(u, (1, 1, 1, 1), mode="replicate"),
                       (torch.tensor([[1., 1, 1], [1, 5, 1], [1, 1, 1]], device=u.device,
                                     dtype=u.dtype) / 13).expand(u.shape[1], 1, 3, 3),
                       groups=u.shape[1])
    return {
        "autocontrast": ((u - lo) / (hi - lo).clamp_min(1e-6)).where(hi > lo, u),
        "equalize": _equalize(u),
        "solarize": torch.where(u >= 1 - v, 1 - u, u),
        "color": _blend(u, gray, factor),
        "posterize": torch.floor(torch.round(u * 255) / step) * step / 255,
        "contrast": _blend(u, gray.mean((1, 2, 3), keepdim=True), factor),
        "brightness": _blend(u, torch.zeros_like(u), factor),
        "sharpness": _blend(u, blurred, factor),
    }


def _affine(op: torch.Tensor, level: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """``(N, 2, 3)`` sampling matrices (normalised coordinates): the geometric operation drawn
    for each image (rotate up to 30 degrees, shear up to 0.3, translate up to 0.45 of the
    side), the identity for the others."""
    s = sign * level
    angle = torch.deg2rad(30 * s)
    theta = torch.zeros(len(op), 2, 3, device=op.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    rot = op == STRONG_OPS.index("rotate")
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta[:, 0, 0] = torch.where(rot, cos, theta[:, 0, 0])
    theta[:, 1, 1] = torch.where(rot, cos, theta[:, 1, 1])
    theta[:, 0, 1] = torch.where(rot, -sin, 0.3 * s * (op == STRONG_OPS.index("shear_x")))
    theta[:, 1, 0] = torch.where(rot, sin, 0.3 * s * (op == STRONG_OPS.index("shear_y")))
    theta[:, 0, 2] = 0.9 * s * (op == STRONG_OPS.index("translate_x"))  # 0.45 of the side
    theta[:, 1, 2] = 0.9 * s * (op == STRONG_OPS.index("translate_y"))
    return theta


def strong_augment(x: torch.Tensor, generator: torch.Generator | None = None, ops: int = 2,
                   magnitude: float = 10.0, fill: float = 0.5) -> torch.Tensor:
    """RandAugment on a whole batch on the device: ``ops`` operations per image, each drawn
    uniformly from :data:`STRONG_OPS` and applied at ``magnitude`` (0..30, RandAugment's
    scale: 10 is a third of each operation's range) with a random sign.

    The inputs are normalised; the colour operations work on pixels in [0, 1], recovered per
    channel from the batch's own range (its darkest and brightest values: 0 and 1 for any batch
    of natural images), and the result is mapped back. Geometric operations are one
    ``grid_sample`` per round (nearest pixel, uncovered pixels ``fill``, PIL's defaults);
    every draw uses ``generator`` (CPU), so a seed gives the same views on every device.

    >>> x = torch.randn(4, 3, 8, 8)
    >>> strong_augment(x, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 3, 8, 8])
    """
    n = len(x)
    lo = x.amin((0, 2, 3), keepdim=True)
    span = (x.amax((0, 2, 3), keepdim=True) - lo).clamp_min(1e-6)
    u = ((x.float() - lo) / span).clamp(0, 1)
    level = torch.full((n,), magnitude / 30, device=x.device)
    for _ in range(ops):
        op = torch.randint(0, len(STRONG_OPS), (n,), generator=generator)
        sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        op, sign = op.to(x.device, non_blocking=True), sign.to(x.device, non_blocking=True)
        for name, out in _colour_ops(u, level, sign).items():
            u = torch.where((op == STRONG_OPS.index(name))[:, None, None, None], out, u)
        grid = F.affine_grid(_affine(op, level, sign), list(u.shape), align_corners=False)
        u = F.grid_sample(u - fill, grid, mode="nearest", align_corners=False) + fill
    return (u * span + lo).to(x.dtype)
