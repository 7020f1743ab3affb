"""Logit standardization (Sun et al., CVPR 2024): an option of the logit methods.

With ``logit_std: true`` the student's and the teacher's logits are each
z-scored per sample (mean 0, standard deviation 1) before the temperature
softmax, so the student matches the teacher's logit *relations*, not their
range. The method's ``temperature`` is then the paper's base temperature. The option itself
(``LOGIT_STD``) is in :mod:`kd_automl.distill.catalog`.
"""

from __future__ import annotations

import torch

EPS = 1e-7  # the authors' code: (z - mean) / (1e-7 + std)


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
