"""Moonshine: the student is the spec's student with cheap (grouped / bottleneck)
convolutions, distilled with attention transfer.

Defaults follow the authors' code (BayesWatch/pytorch-moonshine): ``conv: code`` is their
``DConvG{g}`` / ``G{g}B{b}`` (``g`` channels per group, BN-ReLU inside), ``conv: paper`` the
paper's ``G(g)`` (``g`` groups); ``at_points: stage`` is attention transfer on the three
stage outputs with weight ``beta`` (their default ``--AT_split 1``), ``at_points: block``
after every residual block with weight ``beta * 3 / blocks``.
"""

from __future__ import annotations

import torch.nn.functional as F

from kd_automl.distill.at import AT, paired_at_loss
from kd_automl.distill.base import HyperParameter
from kd_automl.distill.registry import register_method
from kd_automl.models.base import block_features


@register_method
class Moonshine(AT):
    name = "moonshine"
    fusable = False  # reshapes the student: members with other g, b differ in architecture
    paper = ("Crowley, Gray, Storkey. Moonshine: Distilling with Cheap Convolutions "
             "(NeurIPS 2018)")
    source = ("Crowley, Gray, Storkey 2018; "
              "convolutions and AT: the authors' code")
    hyperparameters = {
        **AT.hyperparameters,
        "g": HyperParameter(4, low=1, integer=True, search={"_type": "choice",
                                                            "_value": [1, 2, 4, 8]},
                            doc="cheap k x k convolution: channels per group (conv: code, "
                                "1 = depthwise) or groups (conv: paper)"),
        "b": HyperParameter(1, low=1, integer=True, search={"_type": "choice",
                                                            "_value": [1, 2, 4]},
                            doc="bottleneck factor (B(b)); 1 = no bottleneck"),
        "conv": HyperParameter("code", choices=("code", "paper"),
                               doc="cheap convolution: the authors' DConvG/GB (code) or the "
                                   "paper's G(g)/B(b) (paper)"),
        "at_points": HyperParameter("stage", choices=("stage", "block"),
                                    doc="attention transfer on the stage outputs (weight beta) "
                                        "or after every block (weight beta * 3 / blocks)"),
    }

    def __init__(self, student, **hparams):
        super().__init__(student, **hparams)
        if self.hp["at_points"] == "block":
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
        pairs = min(len(f_s), len(teacher_out.features))
        at = paired_at_loss(f_s, teacher_out.features)
        return ce + self.hp["beta"] * 3 / pairs * at, {"ce": ce, "at": at}
