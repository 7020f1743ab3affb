"""Small trainable modules methods add around the student: regressors, projectors, heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Regressor(nn.Module):
    """Maps a student feature onto a teacher feature's shape.

    Two maps: a 1x1 convolution and BatchNorm, then a ReLU when ``relu`` (as
    mdistiller's ``ConvReg``), the student map resized to the teacher's spatial size.
    Otherwise both are pooled to vectors and a linear layer maps one onto the other.
    """

    def __init__(self, s_shape: torch.Size, t_shape: torch.Size, relu: bool = False):
        super().__init__()
        self.spatial = len(s_shape) == 4 and len(t_shape) == 4
        if self.spatial:
            self.size = tuple(t_shape[2:])
            self.net = nn.Sequential(nn.Conv2d(s_shape[1], t_shape[1], 1, bias=False),
                                     nn.BatchNorm2d(t_shape[1]),
                                     *([nn.ReLU()] if relu else []))
        else:
            self.net = nn.Linear(s_shape[1], t_shape[1])

    def forward(self, f_s: torch.Tensor) -> torch.Tensor:
        if self.spatial:
            if tuple(f_s.shape[2:]) != self.size:
                f_s = F.interpolate(f_s, size=self.size, mode="bilinear", align_corners=False)
            return self.net(f_s)
        return self.net(f_s.mean(dim=(2, 3)) if f_s.dim() == 4 else f_s.flatten(1))

    @staticmethod
    def target(f_t: torch.Tensor, spatial: bool) -> torch.Tensor:
        """The teacher feature in the regressor's output space."""
        if spatial:
            return f_t
        return f_t.mean(dim=(2, 3)) if f_t.dim() == 4 else f_t.flatten(1)


class ClassifierHead(nn.Module):
    """A shallow exit: pool a feature, a hidden layer of ``dim`` units, then the classes.

    ``forward`` returns ``(logits, hidden)``; ``hidden`` is the exit's feature.
    """

    def __init__(self, in_shape: torch.Size, dim: int, num_classes: int):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(in_shape[1], dim), nn.BatchNorm1d(dim))
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden(f.mean(dim=(2, 3)) if f.dim() == 4 else f.flatten(1))
        return self.fc(F.relu(h)), h


def student_features(student: nn.Module, x: torch.Tensor
                     ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(logits, [features shallow..deep])`` of a zoo model."""
    if not hasattr(student, "forward_features"):
        from kd_automl.errors import KDAutoMLError

        raise KDAutoMLError(f"{type(student).__name__} does not expose forward_features(); "
                            "this method needs a zoo model's intermediate features")
    return student.forward_features(x)
