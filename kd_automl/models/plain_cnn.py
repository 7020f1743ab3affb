"""Plain CNNs with 2/4/6/8/10 conv layers: the sizes of the teacher-assistant paper (TAKD).

Layouts follow TAKD's CIFAR-10 book (conv widths 16..256; ``width=2`` is close
to its CIFAR-100 book): groups of 3x3 conv-BN-ReLU each ending in 2x2
max-pooling, then flatten and one or two linear layers. Group outputs are the
features; the last one is the map the head flattens.
"""

from __future__ import annotations

import torch
from torch import nn

from kd_automl.errors import KDAutoMLError
from kd_automl.models._size import as_float, as_int, channels, check_spatial
from kd_automl.models.base import ZooModel, conv_bn_relu
from kd_automl.models.registry import register_alias, register_model

# depth -> (conv widths per group, hidden linear width or 0)
_LAYOUTS: dict[int, tuple[tuple[tuple[int, ...], ...], int]] = {
    2: (((16,), (16,)), 0),
    4: (((16, 16), (32, 32)), 0),
    6: (((16, 16), (32, 32), (64, 64)), 0),
    8: (((16, 16), (32, 32), (64, 64), (128, 128)), 64),
    10: (((32, 32), (64, 64), (128, 128), (256, 256, 256, 256)), 128),
}


class PlainCNN(ZooModel):
    def __init__(self, groups: list[nn.Module], flat: int, hidden: int, num_classes: int):
        super().__init__()
        self.stages = nn.ModuleList(groups)
        head: list[nn.Module] = [nn.Flatten()]
        if hidden:
            head += [nn.Linear(flat, hidden), nn.ReLU(inplace=True)]
        head.append(nn.Linear(hidden or flat, num_classes))
        self.head = nn.Sequential(*head)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.head(x), feats


@register_model("plain_cnn")
def plain_cnn(input_shape: tuple[int, ...], num_classes: int, depth: int = 4,
              width: float = 1.0) -> PlainCNN:
    """TAKD plain CNN with ``depth`` (2, 4, 6, 8, 10) conv layers, widths scaled by ``width``."""
    depth = as_int("depth", depth, 1)
    if depth not in _LAYOUTS:
        raise KDAutoMLError(f"depth must be one of 2, 4, 6, 8, 10, got {depth}")
    width = as_float("width", width)
    layout, hidden = _LAYOUTS[depth]
    check_spatial(input_shape, 2 ** len(layout), "plain_cnn")
    groups: list[nn.Module] = []
    c_in = input_shape[0]
    for convs in layout:
        layers: list[nn.Module] = []
        for base in convs:
            layers.append(conv_bn_relu(c_in, channels(base, width)))
            c_in = channels(base, width)
        groups.append(nn.Sequential(*layers, nn.MaxPool2d(2)))
    side = [s // 2 ** len(layout) for s in input_shape[1:]]
    hidden = channels(hidden, width) if hidden else 0
    return PlainCNN(groups, c_in * side[0] * side[1], hidden, num_classes)


for _d in _LAYOUTS:
    register_alias(f"plain_cnn{_d}", plain_cnn, depth=_d)
