"""Normalized KD (Yang et al., ICCV 2023, "From Knowledge Distillation to Self-Knowledge
Distillation"; yzd-v/cls_KD, ``mmcls/models/dis_losses/nkd.py``).

``ce_weight * CE + L_target + L_non`` with, per sample (y its label, batch means)::

    L_target = -t_y log s_y                                  (T = 1; t_y detached)
    L_non    = -gamma T^2 sum_{c != y} t^T_c log s^T_c       (softmax over the non-target classes)

where ``t^T``, ``s^T`` are the teacher's and the student's softmax at T over the non-target
logits alone (the normalised non-target distributions). As the authors' code this is a
cross-entropy, not a KL: the value carries the teacher's entropy, the gradient is the same.
Defaults: their loss's (T 1, gamma 1.5), CE 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.registry import register_method


def nkd_rows(z_s: torch.Tensor, z_t: torch.Tensor, y: torch.Tensor, temperature: float,
             gamma: float, keep_target: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Every row's ``(L_target, L_non)``; ``keep_target`` keeps the target class in the
    "non-target" softmax (the copy in SDD's ``SDD_nkd.py``, whose mask keeps every class)."""
    z_s, z_t = z_s.float(), z_t.float()
    log_s = F.log_softmax(z_s, 1).gather(1, y[:, None])[:, 0]
    target = -F.softmax(z_t, 1).gather(1, y[:, None])[:, 0].detach() * log_s
    if not keep_target:
        gt = F.one_hot(y, z_s.shape[1]).bool()
        z_s, z_t = z_s.masked_fill(gt, -1e9), z_t.masked_fill(gt, -1e9)
    p_t = F.softmax(z_t / temperature, 1)
    non = -gamma * temperature**2 * (p_t * F.log_softmax(z_s / temperature, 1)).sum(1)
    return target, non


@register_method
class NKD(Distiller):
    name = "nkd"

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = self.student(x)
        hp = self.hp
        target, non = nkd_rows(logits, teacher_out.logits, y, hp["temperature"], hp["gamma"])
        ce = F.cross_entropy(logits.float(), y)
        target, non = target.mean(), non.mean()
        return hp["ce_weight"] * ce + target + non, {"ce": ce, "target": target, "non": non}
