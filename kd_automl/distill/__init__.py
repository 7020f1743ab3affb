"""Distillation methods, one file each, selected by name.

Their metadata (papers, flags, hyperparameters) is the torch-free catalog
(:mod:`kd_automl.distill.catalog`); importing this package, the catalog or the registry loads
no torch. The torch names (``Distiller``, ``Head``, ``TeacherOutput``, ``kd_loss``) load their
modules when first used, and :func:`get_method` imports every method module.
"""

import importlib

from kd_automl.distill.catalog import method_info
from kd_automl.distill.method_info import HyperParameter, MethodInfo
from kd_automl.distill.registry import check_method, get_method, method_names, register_method

_TORCH = {"Distiller": "base", "Head": "base", "TeacherOutput": "base", "kd_loss": "losses"}


def __getattr__(name: str):
    if name in _TORCH:
        return getattr(importlib.import_module(f"{__name__}.{_TORCH[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Distiller", "Head", "HyperParameter", "MethodInfo", "TeacherOutput", "check_method",
           "get_method", "kd_loss", "method_info", "method_names", "register_method"]
