"""Distillation methods, one file each, selected by name."""

from kd_automl.distill import at as _at  # noqa: F401  (registration)
from kd_automl.distill import byot as _byot  # noqa: F401
from kd_automl.distill import ce as _ce  # noqa: F401
from kd_automl.distill import ctkd as _ctkd  # noqa: F401
from kd_automl.distill import dist as _dist  # noqa: F401
from kd_automl.distill import dkd as _dkd  # noqa: F401
from kd_automl.distill import dml as _dml  # noqa: F401
from kd_automl.distill import fitnet as _fitnet  # noqa: F401
from kd_automl.distill import kd as _kd  # noqa: F401
from kd_automl.distill import moonshine as _moonshine  # noqa: F401
from kd_automl.distill import noisy_kd as _noisy_kd  # noqa: F401
from kd_automl.distill import rocket as _rocket  # noqa: F401
from kd_automl.distill import srd as _srd  # noqa: F401
from kd_automl.distill import takd as _takd  # noqa: F401
from kd_automl.distill import wttm as _wttm  # noqa: F401
from kd_automl.distill.base import Distiller, Head, HyperParameter, TeacherOutput
from kd_automl.distill.losses import kd_loss
from kd_automl.distill.registry import check_method, get_method, method_names, register_method

__all__ = ["Distiller", "Head", "HyperParameter", "TeacherOutput", "check_method", "get_method",
           "kd_loss", "method_names", "register_method"]
