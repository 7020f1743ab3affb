"""Deep mutual learning: a cohort of students, each trained with CE + mean KL to the others."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from kd_automl.distill.base import Distiller
from kd_automl.distill.losses import kd_loss
from kd_automl.distill.registry import register_method


def fresh_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with newly initialised parameters."""
    peer = copy.deepcopy(model)
    for m in peer.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return peer


@register_method
class DML(Distiller):
    name = "dml"
    members_key = "cohort_acc"

    def __init__(self, student: nn.Module, **hparams: float):
        super().__init__(student, **hparams)
        self.peers = nn.ModuleList(fresh_copy(student)
                                   for _ in range(self.hp["cohort_size"] - 1))

    def cohort(self) -> list[nn.Module]:
        return [self.student, *self.peers]

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = [m(x).float() for m in self.cohort()]
        total, parts = torch.zeros((), device=x.device), {}
        for i, z in enumerate(logits):
            ce = F.cross_entropy(z, y)
            kl = sum(kd_loss(z, o.detach(), 1.0) for j, o in enumerate(logits) if j != i)
            kl = kl / (len(logits) - 1)
            total = total + ce + self.hp["kl_weight"] * kl
            parts[f"ce_{i}"], parts[f"kl_{i}"] = ce, kl
        return total, parts

    def members(self):
        return {f"student_{i}": m for i, m in enumerate(self.cohort())}

    def headline(self, val_acc):
        return max(val_acc, key=val_acc.get)
