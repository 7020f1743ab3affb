"""Attention transfer: CE plus the distance between activation-based attention maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill._modules import student_features
from kd_automl.distill.base import Distiller
from kd_automl.distill.losses import at_loss
from kd_automl.distill.registry import register_method


def paired_at_loss(f_s: list[torch.Tensor], f_t: list[torch.Tensor]) -> torch.Tensor:
    """Sum of AT losses over the feature pairs, aligned at the deep end of both lists."""
    pairs = [(s, t) for s, t in zip(reversed(f_s), reversed(f_t), strict=False)
             if s.dim() == 4 and t.dim() == 4]
    if not pairs:
        at_loss(f_s[-1], f_t[-1])  # raises the explanatory error
    return sum((at_loss(s, t) for s, t in pairs), torch.zeros((), device=f_s[-1].device))


@register_method
class AT(Distiller):
    name = "at"

    def loss(self, batch, teacher_out):
        x, y = batch
        logits, f_s = student_features(self.student, x)
        ce = F.cross_entropy(logits.float(), y)
        at = paired_at_loss(f_s, teacher_out.features)
        return ce + self.hp["beta"] * at, {"ce": ce, "at": at}
