"""Decoupled KD: CE plus weighted target-class (TCKD) and non-target-class (NCKD) terms."""

from __future__ import annotations

import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.logit_std import logit_pair
from kd_automl.distill.losses import dkd_loss
from kd_automl.distill.registry import register_method


@register_method
class DKD(Distiller):
    name = "dkd"

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = self.student(x)
        hp = self.hp
        z_s, z_t = logit_pair(logits, teacher_out.logits, hp["logit_std"])
        tckd, nckd = dkd_loss(z_s, z_t, y, hp["alpha"], hp["beta"], hp["temperature"])
        ramp = min(self.epoch / hp["warmup"], 1.0) if hp["warmup"] > 0 else 1.0
        ce = F.cross_entropy(logits.float(), y)
        return hp["ce_weight"] * ce + ramp * (tckd + nckd), {"ce": ce, "tckd": tckd, "nckd": nckd}
