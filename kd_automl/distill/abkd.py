"""ABKD: the KD term is the alpha-beta divergence between the teacher's and the student's
temperature softmax (Wang et al., ICML 2025; ghwang-s/abkd).

``ce_weight * CE + kd_weight * mean_i D_AB(p_t^T[i] || p_s^T[i])`` with, for ``alpha``, ``beta``
and ``alpha + beta`` all non-zero (p the teacher's, q the student's probabilities)::

    D_AB(p || q) = -1 / (alpha beta) * sum_c (p^alpha q^beta - alpha / (alpha + beta) p^(alpha+beta)
                                                           - beta / (alpha + beta) q^(alpha+beta))

and its continuous limits otherwise (Cichocki, Cruces, Amari 2011): ``beta = 0`` gives
``1/alpha^2 sum (p^a log(p^a / q^a) - p^a + q^a)``, so ``(1, 0)`` is the forward KL(p || q) of
Hinton's KD; ``alpha = 0`` the same with p and q swapped, so ``(0, 1)`` is the reverse KL(q || p);
``alpha = -beta`` gives ``1/alpha^2 sum (log(q^a / p^a) + p^a / q^a - 1)`` and ``(0, 0)``
``1/2 sum (log p - log q)^2``. No ``T^2`` factor, as the authors' code. Defaults: the authors'
CIFAR-100 command (README, ``train_ab.sh``: alpha 0.8, beta 0.3, T 4, CE 1, KD weight 32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.registry import register_method


def ab_divergence(log_p: torch.Tensor, log_q: torch.Tensor, alpha: float, beta: float
                  ) -> torch.Tensor:
    """``D_AB(p || q)`` per row from the two rows of log-probabilities (see the module)."""
    a, b = float(alpha), float(beta)
    if a == 0 and b == 0:
        return 0.5 * (log_p - log_q).pow(2).sum(1)
    if b == 0:
        pa, qa = (a * log_p).exp(), (a * log_q).exp()
        return (pa * a * (log_p - log_q) - pa + qa).sum(1) / a**2
    if a == 0:
        qb, pb = (b * log_q).exp(), (b * log_p).exp()
        return (qb * b * (log_q - log_p) - qb + pb).sum(1) / b**2
    if a + b == 0:
        r = a * (log_q - log_p)  # log(q^a / p^a)
        return (r + (-r).exp() - 1).sum(1) / a**2
    s = a + b
    terms = ((a * log_p + b * log_q).exp() - a / s * (s * log_p).exp()
             - b / s * (s * log_q).exp())
    return -terms.sum(1) / (a * b)


def abkd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, alpha: float,
              beta: float, temperature: float) -> torch.Tensor:
    """Batch mean of ``D_AB(softmax(z_t / T) || softmax(z_s / T))``."""
    log_q = F.log_softmax(student_logits.float() / temperature, dim=1)
    log_p = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    return ab_divergence(log_p, log_q, alpha, beta).mean()


@register_method
class ABKD(Distiller):
    name = "abkd"

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = self.student(x)
        hp = self.hp
        ce = F.cross_entropy(logits.float(), y)
        ab = abkd_loss(logits, teacher_out.logits, hp["alpha"], hp["beta"], hp["temperature"])
        return hp["ce_weight"] * ce + hp["kd_weight"] * ab, {"ce": ce, "ab": ab}
