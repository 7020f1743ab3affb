"""CIFAR ResNets (He et al. 2016, section 4.2): depth 6n+2, three stages of basic blocks.

``resnet8`` ... ``resnet110`` have stage widths 16/32/64; ``resnet8x4`` and
``resnet32x4`` (the CRD benchmark's teacher/student pair) have a 32-channel stem
and stages 64/128/256. Every alias takes the same size options, so ``depth``
and ``width`` (a multiplier of 16/32/64) can be searched on any of them.
"""

from __future__ import annotations

import torch
from torch import nn

from kd_automl.models._size import channels
from kd_automl.models.base import StagedCNN, conv_bn_relu
from kd_automl.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(c_in, c_out, 3, stride),
                                  conv_bn_relu(c_out, c_out, 3, act=None))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         conv_bn_relu(c_in, c_out, 1, stride, act=None))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def _stage(c_in: int, c_out: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(*(BasicBlock(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1)
                           for i in range(blocks)))


@register_model("resnet")
def resnet(input_shape: tuple[int, ...], num_classes: int, *, depth: int, width: float,
           stem: int | None) -> StagedCNN:
    """CIFAR ResNet: ``depth`` = 6n+2, stage widths ``16/32/64 * width``, ``stem`` channels."""
    widths = [channels(c, width) for c in (16, 32, 64)]
    stem_c = stem if stem is not None else widths[0]
    n = (depth - 2) // 6
    stages = [_stage(stem_c, widths[0], n, 1), _stage(widths[0], widths[1], n, 2),
              _stage(widths[1], widths[2], n, 2)]
    return StagedCNN(conv_bn_relu(input_shape[0], stem_c), stages, widths[2], num_classes)
