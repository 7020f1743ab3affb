"""SRD: a linear projector, whitening BatchNorm on both features, a LogSum distance, and KD."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from kd_automl.distill._modules import student_features
from kd_automl.distill.base import Distiller
from kd_automl.distill.losses import kd_loss, logsum_distance, pooled
from kd_automl.distill.registry import register_method


@register_method
class SRD(Distiller):
    name = "srd"

    def setup(self, x, teacher_out):
        _, f_s = student_features(self.student, x)
        d_s, d_t = pooled(f_s[-1]).shape[1], pooled(teacher_out.features[-1]).shape[1]
        self.projector = nn.Linear(d_s, d_t)
        self.bn_s = nn.BatchNorm1d(d_t, eps=1e-4, affine=False)
        self.bn_t = nn.BatchNorm1d(d_t, eps=1e-4, affine=False)

    def loss(self, batch, teacher_out):
        x, y = batch
        logits, f_s = student_features(self.student, x)
        z_s = self.bn_s(self.projector(pooled(f_s[-1])))
        z_t = self.bn_t(pooled(teacher_out.features[-1]))
        ce = F.cross_entropy(logits.float(), y)
        feat = logsum_distance(z_s, z_t, self.hp["p"])
        kd = kd_loss(logits, teacher_out.logits, self.hp["temperature"])
        loss = ce + self.hp["feat_weight"] * feat + self.hp["kd_weight"] * kd
        return loss, {"ce": ce, "feat": feat, "kd": kd}
