"""Moonshine: the student is the spec's student with cheap (grouped / bottleneck)
convolutions, distilled with attention transfer as in the paper."""

from __future__ import annotations

from kd_automl.distill.at import AT
from kd_automl.distill.base import HyperParameter
from kd_automl.distill.registry import register_method


@register_method
class Moonshine(AT):
    name = "moonshine"
    paper = ("Crowley, Gray, Storkey. Moonshine: Distilling with Cheap Convolutions "
             "(NeurIPS 2018)")
    hyperparameters = {
        **AT.hyperparameters,
        "g": HyperParameter(4, low=1, integer=True, search={"_type": "choice",
                                                            "_value": [1, 2, 4, 8]},
                            doc="groups of the cheap k x k convolutions (G(g))"),
        "b": HyperParameter(1, low=1, integer=True, search={"_type": "choice",
                                                            "_value": [1, 2, 4]},
                            doc="bottleneck factor (B(b)); 1 = no bottleneck"),
    }

    @classmethod
    def build_student(cls, student, **hparams):
        from kd_automl.models.moonshine import cheapen

        hp = {k: hparams.get(k, h.default) for k, h in cls.hyperparameters.items()}
        return cheapen(student, g=hp["g"], b=hp["b"])
