"""Training one res-student towards the residual, through the engine's ``fit``.

Loss (``reskd.loss``), with ``z`` the res-student's logits, ``e`` the current
ensemble's (sum of the members so far, 0 for the first) and ``t`` the teacher's:

- ``mse`` (default): ``mean((z - (t - e))^2)``, regression on the residual
  ``r = t - e`` itself. This is the paper's reading of the gap as the target, and
  the sum of the members then approximates the teacher's logits term by term
  (gradient boosting on logits); the first res-student is logit-matching KD.
- ``kd``: Hinton KD ``T^2 KL(softmax(t/T) || softmax((e + z)/T))`` on the *new
  ensemble*: the gap is closed only as far as the softmax can see.

Either adds ``ce_weight * CE(e + z, y)`` when ``ce_weight > 0``.

The engine's ``fit`` passes the teacher's output as ``TeacherOutput.logits``; here
that tensor is the teacher's and the ensemble's logits side by side, ``(N, 2C)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kd_automl.data import Dataset
from kd_automl.distill.base import Distiller
from kd_automl.distill.losses import kd_loss
from kd_automl.engine.device import prepare_model, seed_everything
from kd_automl.engine.train import fit
from kd_automl.spec import TrainSpec


class ResidualDistiller(Distiller):
    """Trains ``student`` to add the gap between the teacher and the ensemble so far."""

    name = "reskd_residual"

    def __init__(self, student: nn.Module, loss: str = "mse", temperature: float = 4.0,
                 ce_weight: float = 0.0):
        super().__init__(student)
        self.mode, self.temperature, self.ce_weight = loss, temperature, ce_weight

    def loss(self, batch, teacher_out):
        x, y = batch
        z = self.student(x).float()
        t, e = teacher_out.logits.float().chunk(2, dim=1)
        if self.mode == "mse":
            main = F.mse_loss(z, t - e)
            parts = {"mse": main}
        else:
            main = kd_loss(e + z, t, self.temperature)
            parts = {"kd": main}
        if self.ce_weight > 0:
            ce = F.cross_entropy(e + z, y)
            parts["ce"] = ce
            main = main + self.ce_weight * ce
        return main, parts


class Targets(nn.Module):
    """Frozen teacher and members; ``forward`` gives ``cat([teacher(x), sum(members(x))])``."""

    def __init__(self, teacher: nn.Module, members: list[nn.Module], num_classes: int):
        super().__init__()
        self.teacher, self.members = teacher, nn.ModuleList(members)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.teacher(x).float()
        e = torch.zeros_like(t)
        for m in self.members:
            e = e + m(x).float()
        return torch.cat([t, e], dim=1)


def train_res_student(model: nn.Module, data: Dataset, budget: TrainSpec, device: torch.device,
                      *, targets: Targets, train_targets: torch.Tensor | None, loss: str,
                      temperature: float, ce_weight: float, seed: int) -> nn.Module:
    """Train ``model`` in place; ``train_targets`` are ``targets(x_train)`` precomputed (used
    when inputs are not augmented), else ``targets`` runs on every augmented batch."""
    seed_everything(seed)
    distiller = ResidualDistiller(prepare_model(model, device), loss=loss,
                                  temperature=temperature, ce_weight=ce_weight)
    if budget.augment == "none" and train_targets is not None:
        fit(distiller, data.x_train, data.y_train, budget, device, teacher_logits=train_targets,
            seed=seed)
    else:
        fit(distiller, data.x_train, data.y_train, budget, device, teacher=targets.eval(),
            seed=seed)
    return distiller.student.eval()
