"""Be your own teacher: shallow exits on the student learn from labels, the deepest exit's
soft labels and its feature.

As the authors' code (ArchipLab-LinfengZhang/pytorch-self-distillation-final): the soft-label
term has no ``T^2`` (``kd_t2: true`` adds it, as in Hinton KD) and the exit just below the
deepest gets no feature hint (``hint_all: true`` gives every shallow exit one).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from kd_automl.distill._modules import ClassifierHead, student_features
from kd_automl.distill.base import Distiller, Head
from kd_automl.distill.losses import pooled, soft_kl
from kd_automl.distill.registry import register_method
from kd_automl.errors import KDAutoMLError


@register_method
class BYOT(Distiller):
    name = "byot"
    members_key = "exit_acc"

    def setup(self, x, teacher_out):
        logits, feats = student_features(self.student, x)
        if len(feats) < 2:
            raise KDAutoMLError("byot needs a student with at least two feature stages "
                                "(e.g. depth >= 2)")
        dim = pooled(feats[-1]).shape[1]
        self.exits = nn.ModuleList(ClassifierHead(f.shape, dim, logits.shape[1])
                                   for f in feats[:-1])

    def loss(self, batch, teacher_out):
        x, y = batch
        logits, feats = student_features(self.student, x)
        soft, deep = logits.detach().float(), pooled(feats[-1]).detach()
        ce = F.cross_entropy(logits.float(), y)
        total, parts = ce, {"ce_deepest": ce}
        alpha, t = self.hp["alpha"], self.hp["temperature"]
        kd_weight = alpha * (t**2 if self.hp["kd_t2"] else 1.0)
        for i, (head, f) in enumerate(zip(self.exits, feats, strict=False), start=1):
            z, h = head(f)
            ce_i = F.cross_entropy(z.float(), y)
            kd_i = soft_kl(z, soft, t)
            total = total + (1 - alpha) * ce_i + kd_weight * kd_i
            parts |= {f"ce_exit{i}": ce_i, f"kd_exit{i}": kd_i}
            if i < len(self.exits) or self.hp["hint_all"]:
                hint_i = F.mse_loss(h.float(), deep)
                total = total + self.hp["feat_weight"] * hint_i
                parts[f"hint_exit{i}"] = hint_i
        return total, parts

    def _exit(self, i: int):
        return lambda x: self.exits[i](student_features(self.student, x)[1][i])[0]

    def members(self):
        exits = getattr(self, "exits", [])
        return {**{f"exit{i + 1}": Head(self, self._exit(i)) for i in range(len(exits))},
                "deepest": self.student}

    def headline(self, val_acc):
        return "deepest"
