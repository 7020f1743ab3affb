"""Validation and scaling of size options (depth, width multipliers) shared by the zoo."""

from __future__ import annotations

import math

from kd_automl.errors import KDAutoMLError


def as_int(name: str, value: object, low: int) -> int:
    """Sizes may arrive as floats from q-types (16.0); anything else non-integral is an error."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise KDAutoMLError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def as_float(name: str, value: object, low: float = 0.0) -> float:
    """A positive multiplier (strictly greater than ``low``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > low:
        raise KDAutoMLError(f"{name} must be a number > {low}, got {value!r}")
    return float(value)


def channels(base: int, mult: float, divisor: int = 1) -> int:
    """``base * mult`` rounded to a multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, int(round(base * mult / divisor)) * divisor)


def repeats(base: int, mult: float) -> int:
    """``base * mult`` blocks, rounded up, at least one."""
    return max(1, math.ceil(base * mult - 1e-9))


def check_spatial(input_shape: tuple[int, ...], min_size: int, arch: str) -> None:
    """Image models need ``(C, H, W)`` inputs of at least ``min_size`` pixels a side."""
    if len(input_shape) != 3:
        raise KDAutoMLError(f"{arch} needs image inputs (C, H, W), got shape {input_shape}")
    if min(input_shape[1:]) < min_size:
        raise KDAutoMLError(f"{arch} needs inputs of at least {min_size}x{min_size} pixels, "
                            f"got {input_shape[1]}x{input_shape[2]}")
