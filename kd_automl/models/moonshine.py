"""Moonshine's cheap convolutions: a model with its convolutions swapped for grouped or
bottleneck ones (Crowley, Gray, Storkey. Moonshine: Distilling with Cheap Convolutions,
NeurIPS 2018).

``G(g)``: a ``k x k`` convolution with ``g`` groups followed by a 1x1 convolution that
mixes the groups. ``B(b)``: 1x1 down to ``C/b`` channels, the ``k x k`` convolution at
``C/b`` (grouped too when ``g > 1``), 1x1 back up. The first convolution (on the image,
three or fewer input channels) and 1x1 convolutions are kept, as in the paper.

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


def cheap_conv(conv: nn.Conv2d, g: int, b: int) -> nn.Module:
    """The cheap replacement of one convolution (same input/output shape)."""
    c_in, c_out = conv.in_channels, conv.out_channels
    spatial = dict(kernel_size=conv.kernel_size, stride=conv.stride, padding=conv.padding,
                   dilation=conv.dilation)
    bias = conv.bias is not None
    if b > 1:
        mid = max(1, c_out // b)
        return nn.Sequential(nn.Conv2d(c_in, mid, 1, bias=False),
                             nn.Conv2d(mid, mid, groups=_groups(mid, g), bias=False, **spatial),
                             nn.Conv2d(mid, c_out, 1, bias=bias))
    groups = _groups(math.gcd(c_in, c_out), g)
    return nn.Sequential(nn.Conv2d(c_in, c_out, groups=groups, bias=False, **spatial),
                         nn.Conv2d(c_out, c_out, 1, bias=bias))


def cheapen(model: nn.Module, g: int = 1, b: int = 1) -> nn.Module:
    """Replace ``model``'s full ``k x k`` convolutions (k > 1) in place; returns ``model``."""
    g, b = int(g), int(b)
    if g < 1 or b < 1:
        raise KDAutoMLError(f"moonshine: g and b must be >= 1, got g={g}, b={b}")
    if g == 1 and b == 1:
        return model
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (isinstance(child, nn.Conv2d) and child.groups == 1 and child.in_channels > 3
                    and max(child.kernel_size) > 1):
                setattr(parent, name, cheap_conv(child, g, b).to(child.weight.device))
    return model
