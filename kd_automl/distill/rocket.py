"""Rocket launching: a light net and a booster net share low-level layers and train together;
the light net's logits are pulled to the booster's with the gradient blocked on the booster.

The hint ``lambda * sum_c (l_c - z_c)^2`` (mean over the batch) is the authors' code's
(zhougr1993/Rocket-Launching), and so is the default ``lambda = 0.03`` (every CIFAR run in
their README). Its curvature in the light net's classifier is ``2 lambda E[h h^T]`` (``h``:
the pooled feature), so plain SGD with momentum ``m`` diverges once
``lr * 2 lambda * lambda_max(E[h h^T]) > 2 (1 + m)``: on ResNet8x4 (``lambda_max`` about
80 at initialisation) ``lr = 0.05`` allows ``lambda`` below about 0.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kd_automl.distill._modules import student_features
from kd_automl.distill.base import Distiller, Head
from kd_automl.distill.registry import register_method
from kd_automl.errors import KDAutoMLError


def booster_branch(in_shape: torch.Size, width: int, num_classes: int) -> nn.Module:
    """Two wide layers (3x3 conv or linear, with BatchNorm and ReLU) and a classifier."""
    if len(in_shape) == 4:
        c = in_shape[1]
        return nn.Sequential(nn.Conv2d(c, width, 3, padding=1, bias=False),
                             nn.BatchNorm2d(width), nn.ReLU(),
                             nn.Conv2d(width, width, 3, padding=1, bias=False),
                             nn.BatchNorm2d(width), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
    return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[1], width), nn.BatchNorm1d(width),
                         nn.ReLU(), nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(),
                         nn.Linear(width, num_classes))


@register_method
class Rocket(Distiller):
    name = "rocket"
    members_key = "net_acc"

    def setup(self, x, teacher_out):
        logits, feats = student_features(self.student, x)
        k = self.hp["shared_layers"]
        if k > len(feats):
            raise KDAutoMLError(f"method.shared_layers: the student has only {len(feats)} "
                                f"feature stage(s), got {k}")
        self.booster = booster_branch(feats[k - 1].shape, self.hp["booster_width"],
                                      logits.shape[1])

    def _both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, feats = student_features(self.student, x)
        return logits, self.booster(feats[self.hp["shared_layers"] - 1])

    def loss(self, batch, teacher_out):
        x, y = batch
        light, booster = (z.float() for z in self._both(x))
        ce_light, ce_booster = F.cross_entropy(light, y), F.cross_entropy(booster, y)
        hint = (light - booster.detach()).pow(2).sum(1).mean()
        loss = ce_light + ce_booster + self.hp["hint_weight"] * hint
        return loss, {"ce_light": ce_light, "ce_booster": ce_booster, "hint": hint}

    def members(self):
        out = {"light": self.student}
        if hasattr(self, "booster"):
            out["booster"] = Head(self, lambda x: self._both(x)[1])
        return out

    def headline(self, val_acc):
        return "light"
