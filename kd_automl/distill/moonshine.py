"""Moonshine: the student is the spec's student with cheap (grouped / bottleneck)
convolutions, distilled with attention transfer.

Defaults follow the authors' code (BayesWatch/pytorch-moonshine): ``conv: code`` is their
``DConvG{g}`` / ``G{g}B{b}`` (``g`` channels per group, BN-ReLU inside), ``conv: paper`` the
paper's ``G(g)`` (``g`` groups); ``at_points: stage`` is attention transfer on the three
stage outputs with weight ``beta`` (their default ``--AT_split 1``), the third being the zoo's
last feature, taken after the network's final BN-ReLU; ``at_points: stage_pre`` the same three
points with the third taken before that BN-ReLU, where the authors' ``WideResNet.forward``
takes it (the last block's output); ``at_points: block`` after every residual block with weight
``beta * 3 / blocks``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kd_automl.distill.at import AT, paired_at_loss
from kd_automl.distill.registry import register_method
from kd_automl.models.base import block_features


def stage_ends(blocks: list[torch.Tensor]) -> list[torch.Tensor]:
    """The last of every run of equally shaped block outputs: each stage's output, with the last
    stage's taken from its last block (before a pre-activation network's final BN-ReLU)."""
    return [f for i, f in enumerate(blocks)
            if i + 1 == len(blocks) or blocks[i + 1].shape != f.shape]


@register_method
class Moonshine(AT):
    name = "moonshine"

    def __init__(self, student, **hparams):
        super().__init__(student, **hparams)
        if self.hp["at_points"] in ("block", "stage_pre"):
            self.needs_features = "blocks"  # the engine then gives the teacher's blocks too

    @classmethod
    def build_student(cls, student, **hparams):
        from kd_automl.models.moonshine import cheapen

        hp = {k: hparams.get(k, h.default) for k, h in cls.hyperparameters.items()}
        return cheapen(student, g=hp["g"], b=hp["b"], style=hp["conv"])

    def loss(self, batch, teacher_out):
        if self.hp["at_points"] == "stage":
            return super().loss(batch, teacher_out)
        x, y = batch
        logits, f_s = block_features(self.student, x)
        ce = F.cross_entropy(logits.float(), y)
        if self.hp["at_points"] == "stage_pre":
            at = paired_at_loss(stage_ends(f_s), stage_ends(teacher_out.features))
            return ce + self.hp["beta"] * at, {"ce": ce, "at": at}
        pairs = min(len(f_s), len(teacher_out.features))
        at = paired_at_loss(f_s, teacher_out.features)
        return ce + self.hp["beta"] * 3 / pairs * at, {"ce": ce, "at": at}
