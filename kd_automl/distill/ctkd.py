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

from kd_automl.distill.base import Distiller, HyperParameter
from kd_automl.distill.logit_std import LOGIT_STD, logit_pair
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
    fusable = True  # the temperature is a member's own parameter, stepped by its own optimizer
    paper = "Li et al. Curriculum Temperature for Knowledge Distillation (AAAI 2023)"
    source = "Li et al. 2023"
    hyperparameters = {
        "alpha": HyperParameter(0.9, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0, 1]},
                                doc="weight of the KD term (1 - alpha on CE)"),
        "kd_scale": HyperParameter(1.0, low=0.0, doc="extra factor on the KD term only"),
        "t_min": HyperParameter(1.0, low=1e-3, doc="lowest temperature (authors' t_start)"),
        "t_range": HyperParameter(20.0, low=0.0,
                                  search={"_type": "uniform", "_value": [5, 30]},
                                  doc="T = t_min + t_range * sigmoid(theta) (authors' t_end)"),
        "lambda_max": HyperParameter(1.0, low=0.0, search={"_type": "uniform", "_value": [0, 2]},
                                     doc="final strength of the gradient reversal"),
        "lambda_epochs": HyperParameter(10, low=0, integer=True,
                                        search={"_type": "choice", "_value": [5, 10, 20]},
                                        doc="epochs of the cosine curriculum of lambda"),
        **LOGIT_STD,
    }

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
