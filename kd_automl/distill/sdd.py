"""Scale-decoupled KD (Wei et al., CVPR 2024; shicaiwei123/SDD-CVPR2024): KD, DKD or NKD on the
logits of every cell of the last feature map, pooled at several scales.

Both models' last (pre-pooling) maps are average-pooled to 4x4 and from there to each scale in
``scales`` (1 = the global cell, 2 = a 2x2 grid, 4 = 4x4), as the authors' ``SPP``; each
model's own classifier gives every cell's logits. The base loss (``sdd_kd``: Hinton's KD term;
``sdd_dkd``: DKD's ``alpha TCKD + beta NCKD``; ``sdd_nkd``: NKD's target and normalised
non-target terms) is computed for every (cell, sample) row and
averaged over all rows, a row weighted ``complementary_weight`` (the paper's beta, the authors' 2)
when the teacher's prediction on that cell and on the whole image disagree about the label
(one right, one wrong: a complementary term) and 1 otherwise (consistent terms and the global
cells). With ``scales: "1"`` it is the base method (KD or DKD) exactly.

The cells' logits come from :func:`kd_automl.models.base.class_map` (the classifier at every
position of the map, then pooled: the same numbers as the authors' classifier on pooled cells),
the teacher's through the ``"class_map"`` features mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill._modules import student_features
from kd_automl.distill.base import Distiller
from kd_automl.distill.nkd import nkd_rows
from kd_automl.distill.registry import register_method
from kd_automl.models.base import class_map


def cell_logits(cmap: torch.Tensor, scales: tuple[int, ...]) -> torch.Tensor:
    """``(cells, N, classes)`` logits of every cell, the global cell first, then each scale's
    grid in row-major order (the authors' SPP: pool to 4x4, then from there to each scale)."""
    base = F.adaptive_avg_pool2d(cmap.float(), 4)
    cells = [F.adaptive_avg_pool2d(base, s).flatten(2) for s in scales]  # (N, K, s*s) each
    return torch.cat(cells, dim=2).permute(2, 0, 1)


def kd_rows(z_s: torch.Tensor, z_t: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 KL(p_t^T || p_s^T)`` of every row."""
    log_p_s = F.log_softmax(z_s / temperature, dim=1)
    log_p_t = F.log_softmax(z_t / temperature, dim=1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(1) * temperature**2


def dkd_rows(z_s: torch.Tensor, z_t: torch.Tensor, y: torch.Tensor, alpha: float, beta: float,
             temperature: float) -> torch.Tensor:
    """DKD's ``alpha TCKD + beta NCKD`` (each ``T^2``) of every row."""
    z_s, z_t = z_s / temperature, z_t / temperature
    gt = F.one_hot(y, z_s.shape[1]).bool()
    p_s, p_t = F.softmax(z_s, dim=1), F.softmax(z_t, dim=1)
    b_s = torch.stack([p_s[gt], p_s.masked_fill(gt, 0).sum(1)], dim=1)
    b_t = torch.stack([p_t[gt], p_t.masked_fill(gt, 0).sum(1)], dim=1)
    tckd = (b_t * (b_t.clamp_min(1e-12).log() - b_s.clamp_min(1e-12).log())).sum(1)
    log_n_s = F.log_softmax(z_s.masked_fill(gt, -1e9), dim=1)
    log_n_t = F.log_softmax(z_t.masked_fill(gt, -1e9), dim=1)
    nckd = (log_n_t.exp() * (log_n_t - log_n_s)).sum(1)
    return (alpha * tckd + beta * nckd) * temperature**2


def row_weights(t_cells: torch.Tensor, y: torch.Tensor, complementary: float) -> torch.Tensor:
    """``(cells, N)`` weights: ``complementary`` where the teacher's cell prediction and its
    global-cell prediction disagree about the label, 1 elsewhere (the global cells included)."""
    right = t_cells.argmax(2) == y[None, :]
    inconsistent = right != right[:1]
    return torch.where(inconsistent, complementary, 1.0)


class _SDD(Distiller):
    """What SD-KD, SD-DKD and SD-NKD share (their metadata: the catalog's ``sdd_*``)."""

    def sdd_terms(self, batch, teacher_out):
        """``(student logits, (cells, N) per-row base loss, (cells, N) weights)``."""
        x, y = batch
        logits, f_s = student_features(self.student, x)
        scales = tuple(int(s) for s in self.hp["scales"].split(","))
        s_cells = cell_logits(class_map(self.student, f_s[-1]), scales)
        t_cells = cell_logits(teacher_out.features[-1], scales)
        cells, n, k = s_cells.shape
        rows = self.rows(s_cells.reshape(cells * n, k), t_cells.reshape(cells * n, k),
                         y.repeat(cells)).reshape(cells, n)
        return logits, rows, row_weights(t_cells, y, self.hp["complementary_weight"])

    def sdd_loss(self, batch, teacher_out):
        logits, rows, w = self.sdd_terms(batch, teacher_out)
        return logits, (w * rows).sum() / rows.numel()


@register_method
class SDDKD(_SDD):
    name = "sdd_kd"

    def rows(self, z_s, z_t, y):
        return kd_rows(z_s, z_t, self.hp["temperature"])

    def loss(self, batch, teacher_out):
        logits, sdd = self.sdd_loss(batch, teacher_out)
        ce = F.cross_entropy(logits.float(), batch[1])
        alpha = self.hp["alpha"]
        return (1 - alpha) * ce + alpha * sdd, {"ce": ce, "sdd": sdd}


@register_method
class SDDDKD(_SDD):
    name = "sdd_dkd"

    def rows(self, z_s, z_t, y):
        hp = self.hp
        return dkd_rows(z_s, z_t, y, hp["alpha"], hp["beta"], hp["temperature"])

    def loss(self, batch, teacher_out):
        logits, sdd = self.sdd_loss(batch, teacher_out)
        hp = self.hp
        ramp = min(self.epoch / hp["warmup"], 1.0) if hp["warmup"] > 0 else 1.0
        ce = F.cross_entropy(logits.float(), batch[1])
        return hp["ce_weight"] * ce + ramp * sdd, {"ce": ce, "sdd": sdd}


@register_method
class SDDNKD(_SDD):
    name = "sdd_nkd"

    def rows(self, z_s, z_t, y):
        hp = self.hp
        target, non = nkd_rows(z_s, z_t, y, hp["temperature"], hp["gamma"], hp["keep_target"])
        return target + non

    def loss(self, batch, teacher_out):
        logits, sdd = self.sdd_loss(batch, teacher_out)
        hp = self.hp
        ramp = min(self.epoch / hp["warmup"], 1.0) if hp["warmup"] > 0 else 1.0
        ce = F.cross_entropy(logits.float(), batch[1])
        return hp["ce_weight"] * ce + ramp * sdd, {"ce": ce, "sdd": sdd}
