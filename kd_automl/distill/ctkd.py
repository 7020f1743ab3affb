"""Curriculum temperature KD: Hinton KD whose temperature is learned adversarially.

One global temperature ``T = t_min + t_range * sigmoid(theta)`` is trained with
the student, through a gradient-reversal layer: the student minimises the KD
loss while ``theta`` receives ``-lambda`` times its gradient, so it moves to make
distillation harder. ``lambda`` follows a cosine curriculum from 0 to
``lambda_max`` over the first ``lambda_epochs`` epochs, then stays there.

The loss is ``(1 - alpha) * CE + alpha * kd_scale * KD``: the logit-standardization authors'
CTKD+LS (sunshangquan/logit-standardization-KD ``CTKD/scripts/run_cifar_distill.sh``: ``-r 0.1
-a 9``, CE 0.1 and KD 9) is ``alpha: 0.9, kd_scale: 10, logit_std: true``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kd_automl.distill.base import Distiller
from kd_automl.distill.logit_std import logit_pair
from kd_automl.distill.losses import kd_loss
from kd_automl.distill.registry import register_method


class _ReverseGrad(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by ``-lambda`` (Ganin & Lempitsky)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lam * grad, None


def reverse_grad(x: torch.Tensor, lam: float) -> torch.Tensor:
    """``x`` unchanged; its gradient reversed and scaled by ``lam``."""
    return _ReverseGrad.apply(x, lam)


def cosine_curriculum(epoch: int, epochs: int, top: float) -> float:
    """``top * (1 - cos(pi * min(epoch, epochs) / epochs)) / 2``: 0 at epoch 0, ``top`` from
    ``epochs`` on (the authors' ``CosineDecay(0, -1, epochs)`` with the sign moved into the
    reversal)."""
    if epochs <= 0:
        return top
    e = min(max(epoch, 0), epochs)
    return top * (1 - math.cos(math.pi * e / epochs)) / 2


@register_method
class CTKD(Distiller):
    name = "ctkd"

    def __init__(self, student: nn.Module, **hparams: float):
        super().__init__(student, **hparams)
        self.theta = nn.Parameter(torch.ones(1))  # the authors' Global_T starts at 1

    def temperature(self) -> torch.Tensor:
        """This epoch's temperature, wired through the gradient reversal."""
        hp = self.hp
        lam = cosine_curriculum(self.epoch, hp["lambda_epochs"], hp["lambda_max"])
        theta = reverse_grad(self.theta.float().squeeze(0), lam)
        return hp["t_min"] + hp["t_range"] * torch.sigmoid(theta)

    def loss(self, batch, teacher_out):
        x, y = batch
        logits = self.student(x)
        t = self.temperature()
        ce = F.cross_entropy(logits.float(), y)
        kd = kd_loss(*logit_pair(logits, teacher_out.logits, self.hp["logit_std"]), t)
        alpha = self.hp["alpha"]
        total = (1 - alpha) * ce + alpha * self.hp["kd_scale"] * kd
        return total, {"ce": ce, "kd": kd,
                                               "temperature": t.detach()}
