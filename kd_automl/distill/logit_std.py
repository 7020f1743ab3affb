"""Logit standardization (Sun et al., CVPR 2024): an option of the logit methods.

With ``logit_std: true`` the student's and the teacher's logits are each
z-scored per sample (mean 0, standard deviation 1) before the temperature
softmax, so the student matches the teacher's logit *relations*, not their
range. The method's ``temperature`` is then the paper's base temperature.
"""

from __future__ import annotations

import torch

from kd_automl.distill.base import HyperParameter

EPS = 1e-7  # the authors' code: (z - mean) / (1e-7 + std)

LOGIT_STD = {
    "logit_std": HyperParameter(False, flag=True, search={"_type": "choice",
                                                          "_value": [False, True]},
                                doc="z-score both logits before the softmax (Sun et al. 2024)"),
}


def standardize(logits: torch.Tensor) -> torch.Tensor:
    """Each row minus its mean, over its (unbiased) standard deviation, as the authors' code."""
    z = logits.float()
    return (z - z.mean(dim=-1, keepdim=True)) / (EPS + z.std(dim=-1, keepdim=True))


def logit_pair(student_logits: torch.Tensor, teacher_logits: torch.Tensor, on: bool
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The two logits as the loss should see them: standardized when ``on``, else unchanged."""
    if not on:
        return student_logits, teacher_logits
    return standardize(student_logits), standardize(teacher_logits)
