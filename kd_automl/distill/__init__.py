"""Distillation methods, one file each, selected by name."""

from kd_automl.distill import ce as _ce  # noqa: F401  (registration)
from kd_automl.distill import kd as _kd  # noqa: F401
from kd_automl.distill.base import Distiller, HyperParameter, TeacherOutput
from kd_automl.distill.losses import kd_loss
from kd_automl.distill.registry import check_method, get_method, method_names, register_method

__all__ = ["Distiller", "HyperParameter", "TeacherOutput", "check_method", "get_method",
           "kd_loss", "method_names", "register_method"]
