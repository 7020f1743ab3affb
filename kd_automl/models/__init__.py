"""Model zoo by name and size, and profiling (params, FLOPs, latency).

The names, options and size rules are the torch-free catalog (:mod:`kd_automl.models.catalog`):
importing this package, the catalog or the registry loads no torch. The torch names
(``ZooModel``, ``profile``, ...) load their modules when first used, and the first
:func:`build_model` imports every family.

>>> from kd_automl.models import build_model, profile
>>> model = build_model("resnet8x4", (3, 32, 32), num_classes=100)
>>> logits, feats = model.forward_features(torch.zeros(2, 3, 32, 32))  # doctest: +SKIP
>>> profile(model, (3, 32, 32)).flops  # doctest: +SKIP
"""

import importlib

from kd_automl.models.catalog import model_doc, model_names, model_options
from kd_automl.models.registry import build_model, check_model, register_model

_TORCH = {"ZooModel": "base", "Profile": "profiling", "count_params": "profiling",
          "measure_latency": "profiling", "profile": "profiling"}


def __getattr__(name: str):
    if name in _TORCH:
        return getattr(importlib.import_module(f"{__name__}.{_TORCH[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Profile", "ZooModel", "build_model", "check_model", "count_params",
           "measure_latency", "model_doc", "model_names", "model_options", "profile",
           "register_model"]
