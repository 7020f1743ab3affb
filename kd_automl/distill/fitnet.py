"""FitNets: CE plus a hint loss between a regressed student feature and a teacher feature.

As mdistiller: one stage, and the convolutional regressor ends in a ReLU (``regressor_relu``;
the teacher's hinted map is post-ReLU too, so the hint compares non-negative maps), with
mdistiller's weights (CE 1, hint 100). The default ``hint_layer`` -1 (the deepest feature, valid
on every zoo model) is not mdistiller's: their ``HINT_LAYER = 2`` counts the stem, so it hints
the second stage's output, ``hint_layer: -2`` here on a three-stage network (what
``cifar100_fitnet.yaml`` sets).
"""

from __future__ import annotations

import torch.nn.functional as F

from kd_automl.distill._modules import Regressor, student_features
from kd_automl.distill.base import Distiller
from kd_automl.distill.registry import register_method


@register_method
class FitNet(Distiller):
    name = "fitnet"

    def setup(self, x, teacher_out):
        _, f_s = student_features(self.student, x)
        i = self.hp["hint_layer"]
        self.regressor = Regressor(f_s[i].shape, teacher_out.features[i].shape,
                                   relu=self.hp["regressor_relu"])

    def loss(self, batch, teacher_out):
        x, y = batch
        logits, f_s = student_features(self.student, x)
        i = self.hp["hint_layer"]
        hint = self.regressor(f_s[i]).float()
        target = Regressor.target(teacher_out.features[i], self.regressor.spatial).float()
        ce = F.cross_entropy(logits.float(), y)
        feat = F.mse_loss(hint, target)
        return self.hp["ce_weight"] * ce + self.hp["feat_weight"] * feat, {"ce": ce, "hint": feat}
