"""Adaptive inference over an ensemble of res-students.

The ensemble's prefixes are evaluated in order: prefix ``k`` is the sum of the
logits of members ``1..k``. A sample *exits* at the first prefix whose softmax
confidence (max probability) is ``>= threshold``, or at the full ensemble. Its
cost is the FLOPs of every member run so far, ``sum_{j<=k} flops_j``; the curve
reports accuracy and the mean cost per sample as a fraction of the teacher's FLOPs.

>>> a = torch.tensor([[3.0, 0.0], [0.1, 0.0]]); b = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
>>> p = adaptive_point(prefix_logits([a, b]), torch.tensor([0, 1]), [10, 30], 100, 0.9)
>>> p.accuracy, p.flops_frac, p.exits
(1.0, 0.25, [1, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch


@dataclass
class ExitPoint:
    """One point of the accuracy/compute curve."""

    threshold: float | None  # None: the full prefix of ``members`` members, no early exit
    accuracy: float
    flops_frac: float  # mean FLOPs per sample / teacher FLOPs
    exits: list[int]  # samples leaving at each prefix

    @property
    def members(self) -> int:
        return max((i + 1 for i, n in enumerate(self.exits) if n), default=0)

    def to_dict(self) -> dict:
        return asdict(self)


def prefix_logits(member_logits: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Cumulative sums: ``[z_1, z_1 + z_2, ...]``."""
    out, acc = [], None
    for z in member_logits:
        acc = z.float() if acc is None else acc + z.float()
        out.append(acc)
    return out


def adaptive_point(prefixes: Sequence[torch.Tensor], labels: torch.Tensor,
                   member_flops: Sequence[int], teacher_flops: int, threshold: float
                   ) -> ExitPoint:
    """Accuracy and mean FLOPs fraction when each sample exits at the first confident prefix."""
    stack = torch.stack([p.float() for p in prefixes])  # (K, N, C)
    conf, pred = stack.softmax(-1).max(-1)  # (K, N)
    confident = conf >= threshold
    confident[-1] = True
    exit_at = confident.int().argmax(0)  # first confident prefix per sample
    chosen = pred.gather(0, exit_at[None]).squeeze(0)
    cum = torch.tensor(member_flops, dtype=torch.float64).cumsum(0)
    cost = cum[exit_at.cpu()]
    return ExitPoint(threshold=float(threshold),
                     accuracy=float((chosen.cpu() == labels.cpu()).float().mean()),
                     flops_frac=float(cost.mean() / teacher_flops),
                     exits=torch.bincount(exit_at.cpu(), minlength=len(prefixes)).tolist())


def adaptive_curve(prefixes: Sequence[torch.Tensor], labels: torch.Tensor,
                   member_flops: Sequence[int], teacher_flops: int,
                   thresholds: Sequence[float]) -> list[ExitPoint]:
    return [adaptive_point(prefixes, labels, member_flops, teacher_flops, t) for t in thresholds]


def full_points(prefixes: Sequence[torch.Tensor], labels: torch.Tensor,
                member_flops: Sequence[int], teacher_flops: int) -> list[ExitPoint]:
    """One point per prefix, every sample running the whole prefix (no early exit)."""
    n = len(labels)
    cum = torch.tensor(member_flops, dtype=torch.float64).cumsum(0)
    return [ExitPoint(threshold=None,
                      accuracy=float((p.argmax(1).cpu() == labels.cpu()).float().mean()),
                      flops_frac=float(cum[k] / teacher_flops),
                      exits=[0] * k + [n] + [0] * (len(prefixes) - k - 1))
            for k, p in enumerate(prefixes)]


def pick_threshold(val_curve: Sequence[ExitPoint], full_val_acc: float, tolerance: float
                   ) -> ExitPoint:
    """The cheapest validation point within ``tolerance`` of the full ensemble's accuracy
    (ties: the more accurate), or the most accurate point when none is that close."""
    ok = [p for p in val_curve if p.accuracy >= full_val_acc - tolerance]
    if not ok:
        return max(val_curve, key=lambda p: (p.accuracy, -p.flops_frac))
    return min(ok, key=lambda p: (p.flops_frac, -p.accuracy))
