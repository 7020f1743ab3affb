"""Consistency-regularisation-based logit distillation (Zhang et al., ACM MM 2024, "Cross-View
Consistency Regularisation for Knowledge Distillation"): KD within and across a weak and a strong
view, each term kept only for the samples the teacher is confident about.

With the strong view drawn as MLKD's (:func:`kd_automl.data.augment.strong_augment`, the
teacher run on it by the engine), ``KD(a, b)`` Hinton's per-sample ``T^2 KL(p_b || p_a)`` and
``c_w``, ``c_s`` the teacher's largest softmax probability on each view, the loss is the
authors' ``CRLD.forward_train`` term for term::

    ce_weight (CE(weak) + CE(strong))
    + wv_weight mean_i [c_w >= tau_w] (KD(s_w, t_w) + KD(s_s, t_s))     within-view
    + cv_weight mean_i [c_s >= tau_s] (KD(s_s, t_w) + KD(s_w, t_s))     cross-view

Defaults: their ``cfg.CRLD`` (CE 1, within-view 2, cross-view 0.5, T 4, tau_w 0.9, tau_s 0.2),
which their CIFAR-100 configs use unchanged.
"""

from __future__ import annotations

import torch.nn.functional as F

from kd_automl.distill.base import Distiller
from kd_automl.distill.registry import register_method
from kd_automl.distill.sdd import kd_rows


def crld_terms(s_w, s_s, t_w, t_s, temperature: float, tau_w: float, tau_s: float):
    """``(within-view, cross-view)`` terms before their weights (see the module)."""
    s_w, s_s, t_w, t_s = (z.float() for z in (s_w, s_s, t_w, t_s))
    mask_w = (F.softmax(t_w, 1).amax(1) >= tau_w).float()
    mask_s = (F.softmax(t_s, 1).amax(1) >= tau_s).float()
    within = (kd_rows(s_w, t_w, temperature) + kd_rows(s_s, t_s, temperature)) * mask_w
    cross = (kd_rows(s_s, t_w, temperature) + kd_rows(s_w, t_s, temperature)) * mask_s
    return within.mean(), cross.mean()


@register_method
class CRLD(Distiller):
    name = "crld"

    def loss(self, batch, teacher_out):
        x, y = batch
        x_strong, t_strong = teacher_out.strong
        s_w, s_s = self.student(x), self.student(x_strong)
        hp = self.hp
        ce = F.cross_entropy(s_w.float(), y) + F.cross_entropy(s_s.float(), y)
        within, cross = crld_terms(s_w, s_s, teacher_out.logits, t_strong, hp["temperature"],
                                   hp["tau_w"], hp["tau_s"])
        loss = hp["ce_weight"] * ce + hp["wv_weight"] * within + hp["cv_weight"] * cross
        return loss, {"ce": ce, "within": within, "cross": cross}
