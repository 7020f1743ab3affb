"""Weighted transformed teacher matching: no temperature on the student side.

``CE + beta * mean_i U(p_t[i]) * KL(q_t[i] || p_s[i])`` where ``p = softmax(z)``,
``q_t = p_t^g / U(p_t)`` is the teacher's power-transformed distribution with
``g = 1 / temperature`` and ``U(p_t) = sum_c p_t[c]^g`` weights each sample
(smoother teacher rows weigh more).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.registry import register_method


def wttm_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, gamma: float
              ) -> torch.Tensor:
    """``mean_i U_i * KL(q_t[i] || p_s[i])`` (the authors' formula, in log space)."""
    log_p_s = F.log_softmax(student_logits.float(), dim=1)
    log_pow = gamma * F.log_softmax(teacher_logits.float(), dim=1)  # log p_t^g
    log_u = torch.logsumexp(log_pow, dim=1, keepdim=True)
    log_q = log_pow - log_u
    kl = (log_q.exp() * (log_q - log_p_s)).sum(1)
    return (log_u.squeeze(1).exp() * kl).mean()


@register_method
class WTTM(Distiller):
    name = "wttm"

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = self.student(x)
        ce = F.cross_entropy(logits.float(), y)
        wttm = wttm_loss(logits, teacher_out.logits, 1.0 / self.hp["temperature"])
        return ce + self.hp["beta"] * wttm, {"ce": ce, "wttm": wttm}
