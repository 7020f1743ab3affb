"""Models for small inputs such as digits: an MLP and a plain CNN, sized by width and depth."""

from __future__ import annotations

import math

from torch import nn

from kd_automl.errors import KDAutoMLError
from kd_automl.models._size import as_int
from kd_automl.models.base import ZooModel
from kd_automl.models.registry import register_alias, register_model


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
def mlp(input_shape: tuple[int, ...], num_classes: int, width: int = 64, depth: int = 1,
        batchnorm: bool = True, dropout: float = 0.0, input_dropout: float = 0.0) -> MLP:
    """Multilayer perceptron on the flattened input."""
    width, depth = as_int("width", width, 1), as_int("depth", depth, 0)
    for name, p in (("dropout", dropout), ("input_dropout", input_dropout)):
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
            raise KDAutoMLError(f"{name} must be a probability in [0, 1), got {p!r}")
    if not isinstance(batchnorm, bool):
        raise KDAutoMLError(f"batchnorm must be true or false, got {batchnorm!r}")
    return MLP(math.prod(input_shape), num_classes, width, depth, batchnorm, float(dropout),
               float(input_dropout))


# Hinton, Vinyals & Dean (2015), section 3 (MNIST): a 784-1200-1200-10 teacher trained with
# dropout (20% on the input, 50% on the hidden units) and a 784-800-800-10 student, no BatchNorm
register_alias("hinton_teacher", mlp, width=1200, depth=2, batchnorm=False, dropout=0.5,
               input_dropout=0.2)
register_alias("hinton_student", mlp, width=800, depth=2, batchnorm=False)


@register_model("cnn")
def cnn(input_shape: tuple[int, ...], num_classes: int, width: int = 16,
        depth: int = 2) -> SmallCNN:
    """Plain CNN (3x3 conv-BN-ReLU stack, global average pool)."""
    width, depth = as_int("width", width, 1), as_int("depth", depth, 1)
    return SmallCNN(input_shape[0], num_classes, width, depth)

