"""Search spaces in NNI's format, validated, and mapped onto Optuna."""

from kd_automl.search.optuna_map import suggest_params
from kd_automl.search.space import (
    SUPPORTED_TYPES,
    default_point,
    edge_points,
    multiples_in,
    validate_space,
)

__all__ = ["SUPPORTED_TYPES", "default_point", "edge_points", "multiples_in", "suggest_params",
           "validate_space"]
