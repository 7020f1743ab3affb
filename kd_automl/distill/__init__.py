"""Distillation methods, one file each, selected by name (each module registers its own)."""

import importlib
import pkgutil

from kd_automl.distill.base import Distiller, Head, HyperParameter, TeacherOutput
from kd_automl.distill.losses import kd_loss
from kd_automl.distill.registry import check_method, get_method, method_names, register_method

# every module of the package is imported, so a method's ``@register_method`` runs: a new
# method is one file here (``_name`` modules are helpers, imported by the methods that use them)
for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["Distiller", "Head", "HyperParameter", "TeacherOutput", "check_method", "get_method",
           "kd_loss", "method_names", "register_method"]
