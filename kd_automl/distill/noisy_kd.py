"""Noisy teacher: Hinton KD against teacher logits perturbed on a fraction of each batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill.base import Distiller, HyperParameter
from kd_automl.distill.logit_std import LOGIT_STD, logit_pair
from kd_automl.distill.losses import kd_loss, noisy_logits
from kd_automl.distill.registry import register_method


@register_method
class NoisyKD(Distiller):
    name = "noisy_kd"
    fusable = True
    stochastic = True
    paper = ("Sau, Balasubramanian. Deep Model Compression: Distilling Knowledge from Noisy "
             "Teachers (2016)")
    source = "Sau, Balasubramanian 2016"
    hyperparameters = {
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 20]},
                                      doc="softmax temperature T"),
        "alpha": HyperParameter(0.9, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0, 1]},
                                doc="weight of the KD term (1 - alpha on CE)"),
        "sigma": HyperParameter(0.1, low=0.0, search={"_type": "uniform", "_value": [0, 1]},
                                doc="std of the multiplicative noise z(1 + N(0, sigma^2))"),
        "p": HyperParameter(0.5, low=0.0, high=1.0, search={"_type": "uniform", "_value": [0, 1]},
                            doc="fraction of each batch whose teacher logits are perturbed"),
        **LOGIT_STD,
    }

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
