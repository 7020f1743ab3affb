"""Moonshine's cheap convolutions: a model with its convolutions swapped for grouped or
bottleneck ones (Crowley, Gray, Storkey. Moonshine: Distilling with Cheap Convolutions,
NeurIPS 2018).

Two styles. ``code`` (the authors' ``DConvG{g}`` / ``G{g}B{b}``): a ``k x k``
convolution at the input width with ``C/g`` groups (``g`` channels per group; ``g = 1`` is
depthwise), BatchNorm-ReLU, then a 1x1 to the output width; with ``b > 1``: 1x1 down to
``C/b``, BN-ReLU, the grouped ``k x k`` at ``C/b``, BN-ReLU, 1x1 up. ``paper`` (the
paper's wording): ``G(g)`` is a ``k x k`` convolution with ``g`` groups and a 1x1 mixing
them, ``B(b)`` the same bottleneck without BN-ReLU inside. The first convolution (on the
image, three or fewer input channels) and 1x1 convolutions are kept, as in the paper.

>>> from kd_automl.models import build_model
>>> net = cheapen(build_model("cnn", (1, 8, 8), 10, width=16, depth=2), g=4, b=1)
"""

from __future__ import annotations

import math

from torch import nn

from kd_automl.errors import KDAutoMLError


def _groups(channels: int, g: int) -> int:
    """The largest divisor of ``channels`` that is at most ``g``."""
    return max(d for d in range(1, min(g, channels) + 1) if channels % d == 0)


def _code_conv(c_in: int, c_out: int, g: int, b: int, bias: bool, spatial: dict) -> nn.Module:
    """The authors' ``DConvG{g}`` (``b = 1``) or ``G{g}B{b}``: BN-ReLU inside, ``g`` channels
    per group."""
    def grouped(c: int) -> list[nn.Module]:
        return [nn.Conv2d(c, c, groups=_groups(c, max(1, c // g)), bias=False, **spatial),
                nn.BatchNorm2d(c), nn.ReLU(inplace=True)]

    if b > 1:
        mid = max(1, c_out // b)
        return nn.Sequential(nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid),
                             nn.ReLU(inplace=True), *grouped(mid),
                             nn.Conv2d(mid, c_out, 1, bias=bias))
    return nn.Sequential(*grouped(c_in), nn.Conv2d(c_in, c_out, 1, bias=bias))


def cheap_conv(conv: nn.Conv2d, g: int, b: int, style: str = "paper") -> nn.Module:
    """The cheap replacement of one convolution (same input/output shape)."""
    c_in, c_out = conv.in_channels, conv.out_channels
    spatial = dict(kernel_size=conv.kernel_size, stride=conv.stride, padding=conv.padding,
                   dilation=conv.dilation)
    bias = conv.bias is not None
    if style == "code":
        return _code_conv(c_in, c_out, g, b, bias, spatial)
    if b > 1:
        mid = max(1, c_out // b)
        return nn.Sequential(nn.Conv2d(c_in, mid, 1, bias=False),
                             nn.Conv2d(mid, mid, groups=_groups(mid, g), bias=False, **spatial),
                             nn.Conv2d(mid, c_out, 1, bias=bias))
    groups = _groups(math.gcd(c_in, c_out), g)
    return nn.Sequential(nn.Conv2d(c_in, c_out, groups=groups, bias=False, **spatial),
                         nn.Conv2d(c_out, c_out, 1, bias=bias))


def cheapen(model: nn.Module, g: int = 1, b: int = 1, style: str = "paper") -> nn.Module:
    """Replace ``model``'s full ``k x k`` convolutions (k > 1) in place; returns ``model``.

    ``style``: ``paper`` (``g`` groups, no BN-ReLU inside) or ``code`` (the authors' code:
    ``g`` channels per group, BN-ReLU inside); see the module docstring.
    """
    g, b = int(g), int(b)
    if g < 1 or b < 1:
        raise KDAutoMLError(f"moonshine: g and b must be >= 1, got g={g}, b={b}")
    if style not in ("paper", "code"):
        raise KDAutoMLError(f"moonshine: conv must be 'code' or 'paper', got {style!r}")
    if style == "paper" and g == 1 and b == 1:
        return model
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (isinstance(child, nn.Conv2d) and child.groups == 1 and child.in_channels > 3
                    and max(child.kernel_size) > 1):
                setattr(parent, name, cheap_conv(child, g, b, style).to(child.weight.device))
    return model
