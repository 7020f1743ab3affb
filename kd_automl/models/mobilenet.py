"""MobileNetV2 for CIFAR (as in the CRD benchmark): inverted residuals, ``width`` and ``depth``.

The stem has stride 2 (CRD's layout), so a 32x32 input ends at 2x2. Stages
group the inverted-residual blocks by output resolution; the 1x1 head conv
(1280 channels) is the last feature. ``mobilenetv2_half`` (width 0.5) is the
CRD paper's "MobileNetV2" student.
"""

from __future__ import annotations

import torch
from torch import nn

from kd_automl.models._size import channels, repeats
from kd_automl.models.base import StagedCNN, conv_bn_relu
from kd_automl.models.registry import register_model

# (expansion or None for the model's T, out channels, repeats, stride); grouped by resolution
_SETTINGS = (
    ((1, 16, 1, 1), (None, 24, 2, 1)),
    ((None, 32, 3, 2),),
    ((None, 64, 4, 2), (None, 96, 3, 1)),
    ((None, 160, 3, 2), (None, 320, 1, 1)),
)


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int):
        super().__init__()
        mid = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_relu(c_in, mid, 1, act=nn.ReLU6))
        layers += [conv_bn_relu(mid, mid, 3, stride, groups=mid, act=nn.ReLU6),
                   conv_bn_relu(mid, c_out, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


@register_model("mobilenetv2")
def mobilenetv2(input_shape: tuple[int, ...], num_classes: int, *, width: float, depth: float,
                expansion: int) -> StagedCNN:
    """MobileNetV2 (CIFAR): channels ``* width``, block repeats ``* depth``, expansion T."""
    c_in = max(1, int(32 * width))
    stem = conv_bn_relu(input_shape[0], c_in, 3, 2, act=nn.ReLU6)
    stages = []
    for group in _SETTINGS:
        blocks: list[nn.Module] = []
        for t, c, n, s in group:
            c_out = max(1, int(c * width))
            for i in range(repeats(n, depth)):
                blocks.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t or expansion))
                c_in = c_out
        stages.append(nn.Sequential(*blocks))
    last = channels(1280, width, 8) if width > 1.0 else 1280
    head = conv_bn_relu(c_in, last, 1, act=nn.ReLU6)
    return StagedCNN(stem, stages, last, num_classes, head_conv=head)

