"""Noisy teacher: Hinton KD against teacher logits perturbed on a fraction of each batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.logit_std import logit_pair
from kd_automl.distill.losses import kd_loss, noisy_logits
from kd_automl.distill.registry import register_method


@register_method
class NoisyKD(Distiller):
    name = "noisy_kd"

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = self.student(x)
        z_t = teacher_out.logits.float()
        mask = torch.rand(len(z_t), device=z_t.device) < self.hp["p"]
        noise = torch.randn_like(z_t) * self.hp["sigma"]
        ce = F.cross_entropy(logits.float(), y)
        kd = kd_loss(*logit_pair(logits, noisy_logits(z_t, noise, mask), self.hp["logit_std"]),
                     self.hp["temperature"])
        alpha = self.hp["alpha"]
        return (1 - alpha) * ce + alpha * kd, {"ce": ce, "kd": kd}
