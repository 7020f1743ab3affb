"""Models for small inputs such as digits: an MLP and a plain CNN, sized by width and depth."""

from __future__ import annotations

import math

from torch import nn

from kd_automl.models._size import as_int
from kd_automl.models.base import ZooModel
from kd_automl.models.registry import register_model


class MLP(ZooModel):
    """``depth`` hidden layers of ``width`` units with ReLU (and BatchNorm)."""

    def __init__(self, in_features: int, num_classes: int, width: int, depth: int):
        super().__init__()
        layers = []
        prev = in_features
        for _ in range(depth):
            layers.append(nn.Sequential(nn.Linear(prev, width), nn.BatchNorm1d(width), nn.ReLU()))
            prev = width
        self.hidden = nn.ModuleList(layers)
        self.fc = nn.Linear(prev, num_classes)

    def forward_features(self, x):
        h = x.flatten(1)
        feats = []
        for layer in self.hidden:
            h = layer(h)
            feats.append(h)
        return self.fc(h), feats or [h]


class SmallCNN(ZooModel):
    """``depth`` 3x3 conv-BN-ReLU layers with ``width`` channels (doubling every two layers)."""

    def __init__(self, in_channels: int, num_classes: int, width: int, depth: int):
        super().__init__()
        blocks = []
        prev = in_channels
        for i in range(depth):
            out = width * (2 ** (i // 2))
            blocks.append(nn.Sequential(nn.Conv2d(prev, out, 3, padding=1, bias=False),
                                        nn.BatchNorm2d(out), nn.ReLU()))
            prev = out
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(prev, num_classes)

    def forward_features(self, x):
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        pooled = self.pool(x).flatten(1)
        return self.fc(pooled), feats


@register_model("mlp")
def mlp(input_shape: tuple[int, ...], num_classes: int, width: int = 64, depth: int = 1) -> MLP:
    """Multilayer perceptron on the flattened input."""
    width, depth = as_int("width", width, 1), as_int("depth", depth, 0)
    return MLP(math.prod(input_shape), num_classes, width, depth)


@register_model("cnn")
def cnn(input_shape: tuple[int, ...], num_classes: int, width: int = 16,
        depth: int = 2) -> SmallCNN:
    """Plain CNN (3x3 conv-BN-ReLU stack, global average pool)."""
    width, depth = as_int("width", width, 1), as_int("depth", depth, 1)
    return SmallCNN(input_shape[0], num_classes, width, depth)

