"""The shape every distillation method shares.

A method is one short class: it declares its hyperparameters, wraps the
student (and anything else it trains), and computes
``loss, parts = distiller.loss(batch, teacher_out)`` where ``parts`` holds
every named loss term so each can be logged. Optional hooks, all no-ops by
default: :meth:`Distiller.build_student` (change the student before training),
:meth:`Distiller.setup` (build extra modules from one probe batch) and
:meth:`Distiller.members` / :meth:`Distiller.headline` (methods that train
several models).

>>> from kd_automl.distill import get_method
>>> kd = get_method("kd")(torch.nn.Linear(4, 3), temperature=4.0)
>>> kd.hp["alpha"]
0.9
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from kd_automl.distill.method_info import HyperParameter


@dataclass(frozen=True)
class Hop:
    """One model the engine trains between the teacher and the student (a teacher assistant):
    its model spec (a :class:`~kd_automl.spec.ModelSpec`), and the method and options it is
    distilled with from the hop before it. The options are part of its cache key."""

    model: Any
    method: str
    options: dict[str, Any]


@dataclass
class TeacherOutput:
    """What the (frozen) teacher produced for a batch: logits, and features when asked for."""

    logits: torch.Tensor
    features: list[torch.Tensor] | None = None
    strong: tuple[torch.Tensor, torch.Tensor] | None = None  # (strong view, its logits)


class Distiller(nn.Module):
    """Base class: ``self.student`` plus whatever extra modules the method trains.

    A registered method declares its ``name``; the rest of these class attributes it takes
    from its entry in :mod:`kd_automl.distill.catalog` (the defaults here are for unregistered
    distillers). ``needs_teacher`` (a frozen teacher is run), ``needs_features``
    (the teacher's intermediate features are needed, so it runs per batch rather
    than from precomputed logits), ``needs_assistant`` (a teacher-assistant chain),
    ``members_key`` (the ``TrialResult.extra`` key under which the accuracy of every
    member model is recorded, for methods that train several), ``fusable`` (the
    method trains one student of the spec's architecture, whose outputs are all its
    loss reads from it, so trials can be trained as a fused group) and
    ``stochastic`` (its loss draws random numbers, so a fused member keeps its own
    random stream). ``strong_view``: the engine also draws a strongly augmented view of
    every batch (:func:`kd_automl.data.augment.strong_augment` after the spec's own
    augmentation, from the run's seeded augmentation stream) and runs the teacher on it;
    ``teacher_out.strong`` holds ``(view, teacher logits)``.
    """

    name: ClassVar[str] = ""
    needs_teacher: ClassVar[bool] = True
    needs_features: ClassVar[bool] = False
    needs_assistant: ClassVar[bool] = False
    members_key: ClassVar[str] = "member_acc"
    fusable: ClassVar[bool] = False
    stochastic: ClassVar[bool] = False
    strong_view: ClassVar[bool] = False
    paper: ClassVar[str] = ""
    source: ClassVar[str] = ""  # what the loss and defaults follow (docs/methods.md)
    hyperparameters: ClassVar[dict[str, HyperParameter]] = {}

    def __init__(self, student: nn.Module, **hparams: float):
        super().__init__()
        self.student = student
        self.hp: dict[str, Any] = {}
        for k, h in self.hyperparameters.items():
            v = hparams.get(k, h.default)
            self.hp[k] = bool(v) if h.flag else int(v) if h.integer else v
        self.epoch = 1  # set by the train loop at the start of every epoch (1-based)

    @classmethod
    def teacher_chain(cls, spec: Any) -> list[Hop]:
        """The models the engine trains, in order, from the teacher down before the student
        (each cached); the student then learns from the last. Default: none."""
        return []

    @classmethod
    def build_student(cls, student: nn.Module, **hparams: float) -> nn.Module:
        """The student this method trains, made from the spec's student (default: itself)."""
        return student

    def setup(self, x: torch.Tensor, teacher_out: TeacherOutput | None) -> None:
        """Build extra modules (regressors, projectors, exits) from one probe batch."""

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], teacher_out: TeacherOutput | None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def members(self) -> dict[str, nn.Module]:
        """Every model whose accuracy the result records, by name (default: the student)."""
        return {"student": self.student}

    def headline(self, val_acc: dict[str, float]) -> str:
        """Which member is *the* student of the trial, given each member's validation accuracy."""
        return next(iter(self.members()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inference: the student's logits."""
        return self.student(x)


class Head(nn.Module):
    """One member of a multi-model distiller as a plain classifier (for evaluation).

    Holds its owner without registering it, so the owner's module tree stays acyclic.
    """

    def __init__(self, owner: Distiller, fn):
        super().__init__()
        self._owner = [owner]
        self._fn = fn

    def train(self, mode: bool = True) -> Head:
        self._owner[0].train(mode)
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x)
