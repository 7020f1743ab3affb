"""Teacher-assistant KD: teacher -> assistant(s) -> student, each hop a Hinton KD run.

The engine trains (and caches) the assistants of ``spec.assistants`` / ``spec.assistant``
with ``assistant_temperature`` and ``assistant_alpha``; this class is the last hop.
``kd_reduction`` (every hop): ``batchmean`` is the paper's (Hinton's) KL, summed over
classes; ``mean`` is the authors' code's ``nn.KLDivLoss()``, averaged over batch x classes,
so C times weaker (100x on CIFAR-100) at the same T and alpha.
"""

from __future__ import annotations

from kd_automl.distill.base import Hop
from kd_automl.distill.kd import KD
from kd_automl.distill.registry import register_method


@register_method
class TAKD(KD):
    name = "takd"

    @classmethod
    def teacher_chain(cls, spec) -> list[Hop]:
        """The spec's assistants, each distilled by Hinton KD (this method's KL reduction)
        from the one before at ``assistant_temperature`` and ``assistant_alpha``."""
        opts = spec.method.options
        hop = {"temperature": opts.get("assistant_temperature", 4.0),
               "alpha": opts.get("assistant_alpha", 0.9)}
        if opts.get("kd_reduction", "batchmean") != "batchmean":  # older cache keys stay valid
            hop["kd_reduction"] = opts["kd_reduction"]
        return [Hop(model, cls.name, hop) for model in spec.assistant_chain or []]
