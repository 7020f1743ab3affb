"""Decoupled KD: CE plus weighted target-class (TCKD) and non-target-class (NCKD) terms."""

from __future__ import annotations

import torch.nn.functional as F

from kd_automl.distill.base import Distiller, HyperParameter
from kd_automl.distill.logit_std import LOGIT_STD, logit_pair
from kd_automl.distill.losses import dkd_loss
from kd_automl.distill.registry import register_method


@register_method
class DKD(Distiller):
    name = "dkd"
    fusable = True
    paper = "Zhao et al. Decoupled Knowledge Distillation (CVPR 2022)"
    source = "Zhao et al. 2022"
    hyperparameters = {
        "alpha": HyperParameter(1.0, low=0.0, search={"_type": "uniform", "_value": [0, 2]},
                                doc="weight of TCKD"),
        "beta": HyperParameter(8.0, low=0.0, search={"_type": "uniform", "_value": [1, 16]},
                               doc="weight of NCKD"),
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 10]},
                                      doc="softmax temperature T"),
        "warmup": HyperParameter(20, low=0, integer=True,
                                 search={"_type": "choice", "_value": [0, 5, 20]},
                                 doc="epochs over which the DKD terms ramp up linearly"),
        "ce_weight": HyperParameter(1.0, low=0.0, doc="weight of the CE term"),
        **LOGIT_STD,
    }

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = self.student(x)
        hp = self.hp
        z_s, z_t = logit_pair(logits, teacher_out.logits, hp["logit_std"])
        tckd, nckd = dkd_loss(z_s, z_t, y, hp["alpha"], hp["beta"], hp["temperature"])
        ramp = min(self.epoch / hp["warmup"], 1.0) if hp["warmup"] > 0 else 1.0
        ce = F.cross_entropy(logits.float(), y)
        return hp["ce_weight"] * ce + ramp * (tckd + nckd), {"ce": ce, "tckd": tckd, "nckd": nckd}
