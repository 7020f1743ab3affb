"""The growing ResKD ensemble: members, their FLOPs, and their logits on every split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from kd_automl.reskd.residual import energy_ratio, residual_target

SPLITS = ("train", "val", "test")


@dataclass
class Member:
    """One res-student: its architecture, cost, model and logits per split."""

    stage: int
    arch: dict[str, Any]
    flops: int
    params: int
    model: nn.Module = field(repr=False)
    logits: dict[str, torch.Tensor] = field(repr=False)
    trial: str = ""  # backend trial id of the candidate row it came from
    gap_reduction: float = 0.0


@dataclass
class Ensemble:
    """The teacher's logits and the members so far; the student is the sum of their logits."""

    teacher_logits: dict[str, torch.Tensor]
    teacher_flops: int
    labels: dict[str, torch.Tensor]
    members: list[Member] = field(default_factory=list)

    def logits(self, split: str) -> torch.Tensor:
        """Sum of the members' logits (zeros with no member)."""
        out = torch.zeros_like(self.teacher_logits[split])
        for m in self.members:
            out = out + m.logits[split]
        return out

    def residual(self, split: str) -> torch.Tensor:
        return residual_target(self.teacher_logits[split], [m.logits[split] for m in self.members])

    def energy_ratio(self, split: str = "val") -> float:
        return energy_ratio(self.residual(split), self.teacher_logits[split])

    @property
    def flops(self) -> int:
        return sum(m.flops for m in self.members)

    @property
    def flops_frac(self) -> float:
        return self.flops / self.teacher_flops

    def accuracy(self, split: str, extra: torch.Tensor | None = None) -> float:
        """Accuracy of the ensemble (plus ``extra`` logits, a candidate's) on ``split``."""
        z = self.logits(split) if extra is None else self.logits(split) + extra
        return float((z.argmax(1).cpu() == self.labels[split].cpu()).float().mean())

    def modules(self) -> list[nn.Module]:
        return [m.model for m in self.members]
