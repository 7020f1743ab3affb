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


# the strong view's operations: RandAugment's 14 (Cubuk et al. 2020), as MLKD's and CRLD's
# mdistiller/dataset/cifar100.py list them
STRONG_OPS = ("identity", "autocontrast", "equalize", "rotate", "solarize", "color",
              "posterize", "contrast", "brightness", "sharpness", "shear_x", "shear_y",
              "translate_x", "translate_y")


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


def _colour_ops(u: torch.Tensor, value: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every colour operation applied to every image of ``u`` (pixels in [0, 1]) at its value,
    ``value`` (per image, uniform in [0, 1)) mapped to the operation's range."""
    v = value[:, None, None, None]
    factor = 0.05 + 0.9 * v  # enhance factors in [0.05, 0.95]
    lo, hi = u.amin((2, 3), keepdim=True), u.amax((2, 3), keepdim=True)
    gray = _gray(u)
    step = 2 ** (8 - torch.floor(4 + 4 * v))  # 4 to 7 bits kept
    kernel = torch.tensor([[1., 1, 1], [1, 5, 1], [1, 1, 1]], device=u.device, dtype=u.dtype)
    blurred = F.conv2d(F.pad(u, (1, 1, 1, 1), mode="replicate"),
                       (kernel / 13).expand(u.shape[1], 1, 3, 3), groups=u.shape[1])
    return {
        "autocontrast": ((u - lo) / (hi - lo).clamp_min(1e-6)).where(hi > lo, u),
        "equalize": _equalize(u),
        "solarize": torch.where(u * 255 >= 256 * v, 1 - u, u),  # threshold in [0, 256)
        "color": _blend(u, gray, factor),
        "posterize": torch.floor(torch.round(u * 255) / step) * step / 255,
        "contrast": _blend(u, gray.mean((1, 2, 3), keepdim=True), factor),
        "brightness": _blend(u, torch.zeros_like(u), factor),
        "sharpness": _blend(u, blurred, factor),
    }


def _affine(op: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``(N, 2, 3)`` sampling matrices (normalised coordinates, about the centre): the
    geometric operation drawn for each image (rotate by -30..30 degrees, shear by -0.3..0.3,
    translate by -0.3..0.3 of the side), the identity for the others."""
    s = 2 * value - 1  # in [-1, 1)
    angle = torch.deg2rad(30 * s)
    rot = op == STRONG_OPS.index("rotate")
    one, zero = torch.ones_like(s), torch.zeros_like(s)
    cos, sin = torch.where(rot, torch.cos(angle), one), torch.where(rot, torch.sin(angle), zero)
    shear_x = torch.where(op == STRONG_OPS.index("shear_x"), 0.3 * s, zero)
    shear_y = torch.where(op == STRONG_OPS.index("shear_y"), 0.3 * s, zero)
    move_x = torch.where(op == STRONG_OPS.index("translate_x"), 0.6 * s, zero)  # 2 x 0.3
    move_y = torch.where(op == STRONG_OPS.index("translate_y"), 0.6 * s, zero)
    return torch.stack([torch.stack([cos, shear_x - sin, move_x], 1),
                        torch.stack([sin + shear_y, cos, move_y], 1)], 1)


def _cutout(u: torch.Tensor, fill: torch.Tensor, generator: torch.Generator | None
            ) -> torch.Tensor:
    """One square per image, its side uniform in [0, 0.5) of the width, at a uniform centre
    (clipped at the border), painted ``fill`` (per channel)."""
    n, _, h, w = u.shape
    side, cx, cy = (torch.rand(3, n, generator=generator) * torch.tensor([[w / 2], [w], [h]])
                    ).to(u.device, non_blocking=True)
    x0, y0 = (cx - side / 2).clamp_min(0).floor(), (cy - side / 2).clamp_min(0).floor()
    cols, rows = torch.arange(w, device=u.device), torch.arange(h, device=u.device)
    inside_x = (cols >= x0[:, None]) & (cols <= (x0 + side)[:, None]) & (side[:, None] > 0)
    inside_y = (rows >= y0[:, None]) & (rows <= (y0 + side)[:, None])
    box = (inside_y[:, :, None] & inside_x[:, None, :])[:, None]
    return torch.where(box, fill, u)


def strong_augment(x: torch.Tensor, generator: torch.Generator | None = None, ops: int = 2
                   ) -> torch.Tensor:
    """The strong view of MLKD and CRLD on a whole batch on the device: the authors'
    ``RandAugment(2, 10)`` (their ``mdistiller/dataset/cifar100.py``): ``ops`` operations per
    image, each drawn uniformly from :data:`STRONG_OPS` with its value drawn uniformly from the
    operation's range (their list ignores the magnitude 10), then a cutout.

    The inputs are normalised; the operations work on pixels in [0, 1], recovered per channel
    from the batch's own range (its darkest and brightest values: 0 and 1 for any batch of
    natural images), and the result is mapped back. Geometric operations are one
    ``grid_sample`` per round (nearest pixel, uncovered pixels black, as PIL's); the cutout is
    painted the channel mean. Every draw uses ``generator`` (CPU), so a seed gives the same
    views on every device.

    >>> x = torch.randn(4, 3, 8, 8)
    >>> strong_augment(x, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 3, 8, 8])
    """
    n = len(x)
    lo = x.amin((0, 2, 3), keepdim=True)
    span = (x.amax((0, 2, 3), keepdim=True) - lo).clamp_min(1e-6)
    u = ((x.float() - lo) / span).clamp(0, 1)
    for _ in range(ops):
        op = torch.randint(0, len(STRONG_OPS), (n,), generator=generator)
        value = torch.rand(n, generator=generator)
        op, value = op.to(x.device, non_blocking=True), value.to(x.device, non_blocking=True)
        for name, out in _colour_ops(u, value).items():
            u = torch.where((op == STRONG_OPS.index(name))[:, None, None, None], out, u)
        grid = F.affine_grid(_affine(op, value), list(u.shape), align_corners=False)
        u = F.grid_sample(u, grid, mode="nearest", align_corners=False)
    u = _cutout(u, ((0 - lo) / span).clamp(0, 1), generator)  # normalised 0: the mean
    return (u * span + lo).to(x.dtype)
