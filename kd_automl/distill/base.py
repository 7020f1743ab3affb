"""The shape every distillation method shares.

A method is one short class: it declares its hyperparameters, wraps the
student (and anything else it trains), and computes
``loss, parts = distiller.loss(batch, teacher_out)`` where ``parts`` holds
every named loss term so each can be logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass(frozen=True)
class HyperParameter:
    """One hyperparameter of a method: default, valid bounds, and a sensible search range."""

    default: float
    low: float | None = None
    high: float | None = None
    search: dict[str, Any] | None = None  # NNI-format suggestion, e.g. {"_type": "uniform", ...}
    doc: str = ""

    def check(self, name: str, value: Any) -> None:
        from kd_automl.errors import KDAutoMLError

        if isinstance(value, bool) or not isinstance(value, int | float):
            raise KDAutoMLError(f"method.{name}: expected a number, got {value!r}")
        if self.low is not None and value < self.low:
            raise KDAutoMLError(f"method.{name}: must be >= {self.low}, got {value}")
        if self.high is not None and value > self.high:
            raise KDAutoMLError(f"method.{name}: must be <= {self.high}, got {value}")


@dataclass
class TeacherOutput:
    """What the (frozen) teacher produced for a batch."""

    logits: torch.Tensor
    features: list[torch.Tensor] | None = None


class Distiller(nn.Module):
    """Base class: ``self.student`` plus whatever extra modules the method trains."""

    name: ClassVar[str] = ""
    needs_teacher: ClassVar[bool] = True
    paper: ClassVar[str] = ""
    hyperparameters: ClassVar[dict[str, HyperParameter]] = {}

    def __init__(self, student: nn.Module, **hparams: float):
        super().__init__()
        self.student = student
        self.hp = {k: hparams.get(k, h.default) for k, h in self.hyperparameters.items()}

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], teacher_out: TeacherOutput | None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inference: the student's logits."""
        return self.student(x)
