"""Models for small inputs such as digits: an MLP and a plain CNN, sized by width and depth."""

from __future__ import annotations

import math

from torch import nn

from kd_automl.models.base import ZooModel
from kd_automl.models.registry import register_model


class MLP(ZooModel):
    """``depth`` hidden layers of ``width`` units with ReLU (BatchNorm and dropout optional)."""

    def __init__(self, in_features: int, num_classes: int, width: int, depth: int,
                 batchnorm: bool = True, dropout: float = 0.0, input_dropout: float = 0.0):
        super().__init__()
        layers = []
        prev = in_features
        for _ in range(depth):
            layer = [nn.Linear(prev, width), *([nn.BatchNorm1d(width)] if batchnorm else []),
                     nn.ReLU(), *([nn.Dropout(dropout)] if dropout else [])]
            layers.append(nn.Sequential(*layer))
            prev = width
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout else nn.Identity()
        self.hidden = nn.ModuleList(layers)
        self.fc = nn.Linear(prev, num_classes)

    def forward_features(self, x):
        h = self.input_dropout(x.flatten(1))
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
def mlp(input_shape: tuple[int, ...], num_classes: int, *, width: int, depth: int,
        batchnorm: bool, dropout: float, input_dropout: float) -> MLP:
    """Multilayer perceptron on the flattened input."""
    return MLP(math.prod(input_shape), num_classes, width, depth, batchnorm, dropout,
               input_dropout)


@register_model("cnn")
def cnn(input_shape: tuple[int, ...], num_classes: int, *, width: int, depth: int) -> SmallCNN:
    """Plain CNN (3x3 conv-BN-ReLU stack, global average pool)."""
    return SmallCNN(input_shape[0], num_classes, width, depth)

