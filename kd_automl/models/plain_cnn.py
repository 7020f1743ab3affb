"""Plain CNNs with 2/4/6/8/10 conv layers: the sizes of the teacher-assistant paper (TAKD).

Layouts follow TAKD's CIFAR-10 book (conv widths 16..256; ``width=2`` is close
to its CIFAR-100 book): groups of 3x3 conv-BN-ReLU each ending in 2x2
max-pooling, then flatten and one or two linear layers. Group outputs are the
features; the last one is the map the head flattens.
"""

from __future__ import annotations

import torch
from torch import nn

from kd_automl.models._size import channels
from kd_automl.models.base import ZooModel, conv_bn_relu
from kd_automl.models.catalog import PLAIN_CNN_LAYOUTS
from kd_automl.models.registry import register_model


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
def plain_cnn(input_shape: tuple[int, ...], num_classes: int, *, depth: int,
              width: float) -> PlainCNN:
    """TAKD plain CNN with ``depth`` (2, 4, 6, 8, 10) conv layers, widths scaled by ``width``."""
    layout, hidden = PLAIN_CNN_LAYOUTS[depth]
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

