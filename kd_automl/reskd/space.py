"""The res-student family: one architecture (a dict of choices) -> one model.

The choices come from :class:`~kd_automl.reskd.config.ArchSpace`; the Optuna
backend samples them with :func:`suggest_arch`, the NNI backend with the
``ModelSpace`` in :mod:`kd_automl.reskd.nni_nas`. Both end in :func:`build_res_student`.

>>> m = build_res_student({"depth": 2, "width": 8, "block": "residual", "kernel": 3}, (1, 8, 8), 10)
>>> m(torch.zeros(2, 1, 8, 8)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kd_automl.models.base import ZooModel, conv_bn_relu
from kd_automl.reskd.config import ArchSpace

Arch = dict[str, Any]


class _Residual(nn.Module):
    """Two ``kernel`` convs with an identity skip: ``relu(x + bn(conv(relu(bn(conv(x))))))``."""

    def __init__(self, width: int, kernel: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(width, width, kernel),
                                  conv_bn_relu(width, width, kernel, act=None))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class ResStudent(ZooModel):
    """Stem conv, ``depth`` blocks (pooled 2x2 while the map is larger than 4x4), GAP, linear."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, depth: int, width: int,
                 block: str, kernel: int):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"res-students are conv nets: need (C, H, W) inputs, got "
                             f"{input_shape}")
        self.stem = conv_bn_relu(input_shape[0], width, kernel)
        size = min(input_shape[1:])
        blocks = []
        for _ in range(depth):
            layers: list[nn.Module] = [_Residual(width, kernel) if block == "residual"
                                       else conv_bn_relu(width, width, kernel)]
            if size > 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.stem(x)
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return self.fc(self.pool(x).flatten(1)), feats


def build_res_student(arch: Arch, input_shape: tuple[int, ...], num_classes: int) -> ResStudent:
    return ResStudent(tuple(input_shape), num_classes, int(arch["depth"]), int(arch["width"]),
                      str(arch["block"]), int(arch["kernel"]))


def suggest_arch(trial, space: ArchSpace) -> Arch:
    """The space's choices as Optuna ``suggest_categorical`` calls, one per dimension."""
    return {name: trial.suggest_categorical(name, choices)
            for name, choices in space.choices().items()}


def smallest_arch(space: ArchSpace) -> Arch:
    """The cheapest architecture of the space (fewest FLOPs: every dimension at its minimum)."""
    block = "plain" if "plain" in space.block else space.block[0]
    return {"depth": min(space.depth), "width": min(space.width), "block": block,
            "kernel": min(space.kernel)}
