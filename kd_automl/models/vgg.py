"""VGG for CIFAR (with BatchNorm; the CRD benchmark's vgg8/11/13/16/19).

Five blocks of 3x3 convs, 2x2 max-pooling between them, global average pooling
and one linear layer. Block outputs are the features.
"""

from __future__ import annotations

from torch import nn

from kd_automl.models._size import channels
from kd_automl.models.base import StagedCNN, conv_bn_relu
from kd_automl.models.catalog import VGG_BLOCKS
from kd_automl.models.registry import register_model

_WIDTHS = (64, 128, 256, 512, 512)


@register_model("vgg")
def vgg(input_shape: tuple[int, ...], num_classes: int, *, depth: int,
        width: float) -> StagedCNN:
    """VGG-``depth`` (8, 11, 13, 16, 19) with BatchNorm, block widths ``64..512 * width``."""
    stages: list[nn.Module] = []
    c_in = input_shape[0]
    for i, (convs, base) in enumerate(zip(VGG_BLOCKS[depth], _WIDTHS, strict=True)):
        c_out = channels(base, width)
        layers: list[nn.Module] = [nn.MaxPool2d(2)] if i else []
        layers += [conv_bn_relu(c_in if j == 0 else c_out, c_out) for j in range(convs)]
        stages.append(nn.Sequential(*layers))
        c_in = c_out
    return StagedCNN(nn.Identity(), stages, c_in, num_classes)
