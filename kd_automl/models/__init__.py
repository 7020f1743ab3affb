"""Model zoo by name and size, and profiling (params, FLOPs)."""

from kd_automl.models import small as _small  # noqa: F401  (registers mlp, cnn)
from kd_automl.models.base import ZooModel
from kd_automl.models.profile import Profile, count_params, profile
from kd_automl.models.registry import (
    build_model,
    check_model,
    model_names,
    model_options,
    register_model,
)

__all__ = ["Profile", "ZooModel", "build_model", "check_model", "count_params", "model_names",
           "model_options", "profile", "register_model"]
