"""Multi-level logit distillation (Jin et al., CVPR 2023; Jin-Ying/Multi-Level-Logit-Distillation,
``mdistiller/distillers/KD_ours.py``): instance-, batch- and class-level alignment of the
teacher's and student's predictions at several temperatures, on a weak and a strong view.

The weak view is the batch as the spec augments it; the strong view is RandAugment on top of
its own crop and flip (:func:`kd_automl.data.augment.strong_augment`, drawn by the engine, which
runs the teacher on it too). With ``w = kd_weight``, the temperatures ``Ts`` = {2, 3, T, 5, 6}
(prediction augmentation) and ``m`` the fraction of the batch whose teacher confidence (its
largest softmax probability on the weak view) is at most the batch median, ``m_c`` the fraction
of classes whose summed teacher probability is at most the classes' median, the loss is the
authors' code's, term for term::

    ce_weight (CE(weak) + CE(strong))
    + w m   sum_Ts KD(weak)                                      instance level, weak
    + w (KD_T(strong) + KD_3(strong) + KD_5(strong) + KD_2(weak) + KD_6(weak))  strong
    + w m_c sum_Ts CC(weak)                                      class level
    + w m   sum_Ts BC(weak)                                      batch level

``KD_t`` is Hinton's ``t^2 KL(p_t || p_s)`` (batch mean); ``CC_t = ||P_t^T P_t - P_s^T P_s||^2 / C``
and ``BC_t = ||P_t P_t^T - P_s P_s^T||^2 / B`` with ``P`` the ``(B, C)`` softmax at ``t``.
The masks multiply a batch-reduced term, so they act as the constants ``m`` and ``m_c``, and the
strong term takes ``t = 2, 6`` on the weak view: both as in the authors' code (the published
numbers come from it). Their strong-view CC and BC are computed but not added to the loss, so
they are left out here. Defaults: their CIFAR-100 setting (mdistiller's KD config: T 4, CE 0.1,
KD 0.9).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.losses import kd_loss
from kd_automl.distill.registry import register_method

OTHER_TEMPERATURES = (3.0, 5.0, 2.0, 6.0)  # the authors' fixed ones, beside cfg.KD.TEMPERATURE


def class_alignment(z_s: torch.Tensor, z_t: torch.Tensor, temperature: float) -> torch.Tensor:
    """``||P_t^T P_t - P_s^T P_s||^2 / C``: the classes' (C x C) correlation of predictions."""
    p_s, p_t = F.softmax(z_s.float() / temperature, 1), F.softmax(z_t.float() / temperature, 1)
    return (p_t.T @ p_t - p_s.T @ p_s).pow(2).sum() / p_s.shape[1]


def batch_alignment(z_s: torch.Tensor, z_t: torch.Tensor, temperature: float) -> torch.Tensor:
    """``||P_t P_t^T - P_s P_s^T||^2 / B``: the samples' (B x B) similarity of predictions."""
    p_s, p_t = F.softmax(z_s.float() / temperature, 1), F.softmax(z_t.float() / temperature, 1)
    return (p_t @ p_t.T - p_s @ p_s.T).pow(2).sum() / p_s.shape[0]


def confidence_masks(z_t_weak: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The fractions ``(m, m_c)`` of samples and of classes at or below the median confidence
    of the teacher's weak-view softmax (numpy's linear-interpolated 50th percentile)."""
    p = F.softmax(z_t_weak.float(), 1)
    confidence, per_class = p.amax(1), p.sum(0)
    m = (confidence <= torch.quantile(confidence, 0.5)).float().mean()
    m_c = (per_class <= torch.quantile(per_class, 0.5)).float().mean()
    return m, m_c


def mlkd_terms(s_weak, s_strong, t_weak, t_strong, temperature: float
               ) -> dict[str, torch.Tensor]:
    """The four distillation terms, unweighted by ``kd_weight`` (see the module)."""
    temps = (temperature, *OTHER_TEMPERATURES)
    m, m_c = confidence_masks(t_weak)
    kd_weak = sum(kd_loss(s_weak, t_weak, t) for t in temps) * m
    kd_strong = (sum(kd_loss(s_strong, t_strong, t) for t in temps[:3])
                 + sum(kd_loss(s_weak, t_weak, t) for t in temps[3:]))
    return {"kd_weak": kd_weak, "kd_strong": kd_strong,
            "cc": sum(class_alignment(s_weak, t_weak, t) for t in temps) * m_c,
            "bc": sum(batch_alignment(s_weak, t_weak, t) for t in temps) * m}


@register_method
class MLKD(Distiller):
    name = "mlkd"

    def loss(self, batch, teacher_out):
        x, y = batch
        x_strong, t_strong = teacher_out.strong
        s_weak, s_strong = self.student(x), self.student(x_strong)
        hp = self.hp
        ce = F.cross_entropy(s_weak.float(), y) + F.cross_entropy(s_strong.float(), y)
        terms = mlkd_terms(s_weak, s_strong, teacher_out.logits, t_strong, hp["temperature"])
        loss = hp["ce_weight"] * ce + hp["kd_weight"] * sum(terms.values())
        return loss, {"ce": ce, **terms}
