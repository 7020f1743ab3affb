"""The student trained alone on the labels: the baseline every KD gain is measured against."""

from __future__ import annotations

import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.registry import register_method


@register_method
class CE(Distiller):
    name = "ce"

    def loss(self, batch, teacher_out):
        x, y = batch
        ce = F.cross_entropy(self.student(x).float(), y)
        return ce, {"ce": ce}
