"""The shape every zoo model shares: logits from ``forward``, features on request."""

from __future__ import annotations

import torch
from torch import nn


class ZooModel(nn.Module):
    """A classifier whose intermediate features can be read.

    Subclasses implement :meth:`forward_features`, returning the logits and a
    list of intermediate feature tensors (shallow to deep; the last is the
    penultimate representation that feeds the classifier).
    """

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]
