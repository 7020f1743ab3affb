"""VGG for CIFAR (with BatchNorm; the CRD benchmark's vgg8/11/13/16/19).

Five blocks of 3x3 convs, 2x2 max-pooling between them, global average pooling
and one linear layer. Block outputs are the features.
"""

from __future__ import annotations

from torch import nn

from kd_automl.errors import KDAutoMLError
from kd_automl.models._size import as_float, as_int, channels, check_spatial
from kd_automl.models.base import StagedCNN, conv_bn_relu
from kd_automl.models.registry import register_alias, register_model

# convs per block, for each depth (depth = convs + 3 linear layers of the original VGG)
_BLOCKS = {8: (1, 1, 1, 1, 1), 11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3),
           19: (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)


@register_model("vgg")
def vgg(input_shape: tuple[int, ...], num_classes: int, depth: int = 13,
        width: float = 1.0) -> StagedCNN:
    """VGG-``depth`` (8, 11, 13, 16, 19) with BatchNorm, block widths ``64..512 * width``."""
    depth = as_int("depth", depth, 1)
    if depth not in _BLOCKS:
        raise KDAutoMLError(f"depth must be one of {', '.join(map(str, _BLOCKS))}, got {depth}")
    width = as_float("width", width)
    check_spatial(input_shape, 16, "vgg")
    stages: list[nn.Module] = []
    c_in = input_shape[0]
    for i, (convs, base) in enumerate(zip(_BLOCKS[depth], _WIDTHS, strict=True)):
        c_out = channels(base, width)
        layers: list[nn.Module] = [nn.MaxPool2d(2)] if i else []
        layers += [conv_bn_relu(c_in if j == 0 else c_out, c_out) for j in range(convs)]
        stages.append(nn.Sequential(*layers))
        c_in = c_out
    return StagedCNN(nn.Identity(), stages, c_in, num_classes)


for _d in _BLOCKS:
    register_alias(f"vgg{_d}", vgg, depth=_d)
