"""Hinton KD: ``(1 - alpha) * CE + alpha * kd_scale * T^2 * KL(p_t^T || p_s^T)``.

With ``logit_std`` both logits are z-scored first (logit standardization); the
published KD+LS setting is ``temperature: 2, alpha: 0.9, kd_scale: 10`` (CE 0.1, KD 9).
"""

from __future__ import annotations

import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.logit_std import logit_pair
from kd_automl.distill.losses import kd_loss
from kd_automl.distill.registry import register_method


@register_method
class KD(Distiller):
    name = "kd"

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = self.student(x)
        ce = F.cross_entropy(logits.float(), y)
        z_s, z_t = logit_pair(logits, teacher_out.logits, self.hp["logit_std"])
        kd = kd_loss(z_s, z_t, self.hp["temperature"], self.hp.get("kd_reduction", "batchmean"))
        alpha = self.hp["alpha"]
        return (1 - alpha) * ce + alpha * self.hp["kd_scale"] * kd, {"ce": ce, "kd": kd}
