"""ShuffleNetV2 for CIFAR (as in the CRD benchmark): 1x1 stem, three stages, conv5.

``width`` scales the stage widths 116/232/464 (width 1 is CRD's ``ShuffleV2``);
``depth`` scales the block repeats 3/7/3.
"""

from __future__ import annotations

import torch
from torch import nn

from kd_automl.models._size import channels, repeats
from kd_automl.models.base import StagedCNN, conv_bn_relu
from kd_automl.models.registry import register_model


def _shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleBlock(nn.Module):
    """Channel split: half passes through, half goes through 1x1 -> dw 3x3 -> 1x1."""

    def __init__(self, c: int):
        super().__init__()
        half = c // 2
        self.branch = nn.Sequential(conv_bn_relu(half, half, 1),
                                    conv_bn_relu(half, half, 3, groups=half, act=None),
                                    conv_bn_relu(half, half, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return _shuffle(torch.cat([a, self.branch(b)], 1))


class DownBlock(nn.Module):
    """Both branches downsample (stride 2) and each yields half the output channels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        mid = c_out // 2
        self.left = nn.Sequential(conv_bn_relu(c_in, c_in, 3, 2, groups=c_in, act=None),
                                  conv_bn_relu(c_in, mid, 1))
        self.right = nn.Sequential(conv_bn_relu(c_in, mid, 1),
                                   conv_bn_relu(mid, mid, 3, 2, groups=mid, act=None),
                                   conv_bn_relu(mid, mid, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _shuffle(torch.cat([self.left(x), self.right(x)], 1))


@register_model("shufflenetv2")
def shufflenetv2(input_shape: tuple[int, ...], num_classes: int, *, width: float,
                 depth: float) -> StagedCNN:
    """ShuffleNetV2 (CIFAR): stage widths ``116/232/464 * width``, repeats ``* depth``."""
    c_in, stages = 24, []
    for base, n in ((116, 3), (232, 7), (464, 3)):
        c_out = channels(base, width, 4)
        stages.append(nn.Sequential(DownBlock(c_in, c_out),
                                    *(ShuffleBlock(c_out) for _ in range(repeats(n, depth)))))
        c_in = c_out
    last = 1024 if width <= 1.5 else 2048
    return StagedCNN(conv_bn_relu(input_shape[0], 24, 1), stages, last, num_classes,
                     head_conv=conv_bn_relu(c_in, last, 1))

