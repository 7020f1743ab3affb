"""The knowledge gap ResKD learns, and its energy.

Res-student ``k`` (1-based) is trained towards the residual
``r_k = z_teacher - sum_{j<k} z_j`` (logits); ``r_1`` is the teacher's logits.

Energy is measured on *mean-centred* logits (each row minus its mean over the
classes), because softmax ignores a constant added to a row: a residual that is
such a constant changes no prediction and should count as no gap.
``energy(z) = sum_i ||z_i - mean(z_i)||^2`` over the samples ``i`` of a split.

>>> t = torch.tensor([[2.0, 0.0]]); s = torch.tensor([[1.0, 0.0]])
>>> residual_target(t, [s])
tensor([[1., 0.]])
>>> energy_ratio(residual_target(t, [s]), t)
0.25
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def residual_target(teacher_logits: torch.Tensor, member_logits: Sequence[torch.Tensor]
                    ) -> torch.Tensor:
    """``z_teacher - sum(member_logits)``: what the next res-student should add."""
    r = teacher_logits.float().clone()
    for z in member_logits:
        r -= z.float()
    return r


def centred(z: torch.Tensor) -> torch.Tensor:
    """Each row minus its mean over the classes (softmax-invariant part removed)."""
    return z - z.mean(dim=1, keepdim=True)


def energy(z: torch.Tensor) -> float:
    """Sum over samples of the squared L2 norm of the mean-centred logits."""
    return float(centred(z.float()).pow(2).sum())


def energy_ratio(residual: torch.Tensor, teacher_logits: torch.Tensor) -> float:
    """Energy of the remaining residual as a fraction of the teacher logits' energy."""
    return energy(residual) / max(energy(teacher_logits), 1e-12)


def gap_reduction(before: torch.Tensor, after: torch.Tensor) -> float:
    """Fraction of the residual's energy a res-student removed: ``1 - E(after) / E(before)``.

    1 means the gap is closed; 0 means no change; negative means it grew.
    """
    return 1.0 - energy(after) / max(energy(before), 1e-12)
