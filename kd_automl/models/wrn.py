"""Wide ResNets (Zagoruyko & Komodakis 2016): WRN-d-k, depth 6n+4, widen factor k.

Pre-activation blocks; the final BN-ReLU belongs to the last stage, so the last
feature is the map that is pooled. ``wrn_40_2`` is WRN-40-2, and so on; ``width``
may be fractional (channels are rounded).
"""

from __future__ import annotations

import torch
from torch import nn

from kd_automl.models._size import channels
from kd_automl.models.base import StagedCNN
from kd_automl.models.registry import register_model


class WideBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.pre = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False))
        self.shortcut = (None if stride == 1 and c_in == c_out
                         else nn.Conv2d(c_in, c_out, 1, stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.pre(x)
        return self.body(a) + (x if self.shortcut is None else self.shortcut(a))


def _stage(c_in: int, c_out: int, blocks: int, stride: int, dropout: float,
           final_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [WideBlock(c_in if i == 0 else c_out, c_out,
                                         stride if i == 0 else 1, dropout) for i in range(blocks)]
    if final_act:
        layers += [nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers)


@register_model("wrn")
def wrn(input_shape: tuple[int, ...], num_classes: int, *, depth: int, width: float,
        dropout: float) -> StagedCNN:
    """Wide ResNet WRN-``depth``-``width``: depth = 6n+4, stage widths ``16/32/64 * width``."""
    n = (depth - 4) // 6
    w = [channels(c, width) for c in (16, 32, 64)]
    stem = nn.Conv2d(input_shape[0], 16, 3, 1, 1, bias=False)
    stages = [_stage(16, w[0], n, 1, dropout), _stage(w[0], w[1], n, 2, dropout),
              _stage(w[1], w[2], n, 2, dropout, final_act=True)]
    return StagedCNN(stem, stages, w[2], num_classes)
