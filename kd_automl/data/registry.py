"""Datasets by name. Each loader returns a :class:`Dataset` of tensors on the CPU.

``digits`` ships with scikit-learn (1,797 8x8 images, 10 classes), so every
default runs offline. ``fashion_mnist`` and ``mnist`` (:mod:`kd_automl.data.idx`) read the
original IDX files (Debian's ``dataset-fashion-mnist`` has Fashion-MNIST's). ``synthetic``
is a seeded Gaussian-cluster image set for tests and benchmarks. ``cifar10``/``cifar100``
(:mod:`kd_automl.data.cifar`) and
``image_folder`` (:mod:`kd_automl.data.image_folder`) read files from disk.

A registered function returns ``(images, labels, num_classes)`` (split here by a
seeded permutation) or ``(images, labels, num_classes, (test_images,
test_labels))`` for datasets with a fixed test split (validation is then a
seeded slice of the training images).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kd_automl.errors import KDAutoMLError

if TYPE_CHECKING:
    import torch


@dataclass
class Dataset:
    """Splits held as tensors: images ``(N, C, H, W)`` float, labels ``(N,)`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device: torch.device | str) -> Dataset:
        """The same splits on ``device`` (moved once per trial, so loaders never copy)."""
        moved = {f: getattr(self, f).to(device) for f in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return Dataset(self.name, num_classes=self.num_classes, **moved)


_DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray, int]]] = {}
_SHAPES: dict[str, Callable[..., tuple[int, ...] | None]] = {}


def register_dataset(name: str, shape: tuple[int, ...] | Callable[..., tuple[int, ...] | None]
                     | None = None):
    """Register ``fn(**options) -> (images NCHW float32, labels int64, num_classes[, test])``.

    ``test``, when given, is the fixed test split ``(images, labels)``. ``shape`` is one
    image's ``(C, H, W)`` (or ``shape(**options)``), known without loading, so a spec's
    models are checked against the real input size before anything runs.
    """

    def deco(fn):
        _DATASETS[name] = fn
        if shape is not None:
            _SHAPES[name] = shape if callable(shape) else (lambda **_: shape)
        return fn

    return deco


def dataset_shape(name: str, options: dict | None = None) -> tuple[int, ...] | None:
    """One image's ``(C, H, W)`` for ``name`` with ``options``, or ``None`` if not known."""
    if name not in _SHAPES:
        return None
    known = inspect.signature(_SHAPES[name]).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in known.values())
    return _SHAPES[name](**{k: v for k, v in (options or {}).items() if takes_all or k in known})


_PREFLIGHT: dict[str, Callable[..., None]] = {}


def register_preflight(name: str):
    """Register a cheap ``check(**options)`` that raises when ``name``'s files are missing."""

    def deco(fn):
        _PREFLIGHT[name] = fn
        return fn

    return deco


def ensure_available(name: str, options: dict | None = None) -> None:
    """Raise :class:`KDAutoMLError` now if the dataset's files are missing (no loading).

    Orchestrators call this before a search, so a missing dataset is one clear
    error instead of a column of failed trials.
    """
    options = options or {}
    check_dataset(name, options)
    if name in _PREFLIGHT:
        _PREFLIGHT[name](**options)


def dataset_names() -> list[str]:
    return sorted(_DATASETS)


@register_dataset("digits", shape=(1, 8, 8))
def _digits() -> tuple[np.ndarray, np.ndarray, int]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    x = (x - x.mean()) / x.std()
    return x, bunch.target.astype(np.int64), 10


@register_dataset("synthetic",
                  shape=lambda channels=3, size=32, **_: (channels, size, size))
def _synthetic(num_samples: int = 1000, num_classes: int = 10, channels: int = 3,
               size: int = 32, noise: float = 1.0, data_seed: int = 1234):
    rng = np.random.default_rng(data_seed)
    centres = rng.normal(size=(num_classes, channels, size, size)).astype(np.float32)
    y = rng.integers(0, num_classes, size=num_samples).astype(np.int64)
    x = centres[y] + noise * rng.normal(size=(num_samples, channels, size, size)).astype(np.float32)
    return x.astype(np.float32), y, num_classes


def check_dataset(name: str, options: dict) -> None:
    if name not in _DATASETS:
        raise KDAutoMLError(f"dataset.name: unknown dataset {name!r}; known: "
                            f"{', '.join(dataset_names())}")
    params = inspect.signature(_DATASETS[name]).parameters
    for key in options:
        if key not in params:
            allowed = ", ".join(params) or "none"
            raise KDAutoMLError(f"dataset.{key}: unknown option for {name!r} (options: {allowed})")


def load_dataset(name: str, options: dict | None = None, *, seed: int = 0,
                 val_fraction: float = 0.2, test_fraction: float = 0.2) -> Dataset:
    """Load ``name`` and split it train/val/test by a permutation seeded with ``seed``.

    For a dataset with a fixed test split (CIFAR), ``test_fraction`` is unused and
    validation is a seeded ``val_fraction`` slice of the training images.
    """
    import torch

    options = options or {}
    check_dataset(name, options)
    x, y, num_classes, *fixed = _DATASETS[name](**options)
    n = len(y)
    perm = np.random.default_rng(seed).permutation(n)
    t = torch.from_numpy
    if fixed:
        (x_test, y_test), n_val = fixed[0], int(round(n * val_fraction))
        val, train = perm[:n_val], perm[n_val:]
        return Dataset(name, t(x[train]), t(y[train]), t(x[val]), t(y[val]),
                       t(np.ascontiguousarray(x_test)), t(np.ascontiguousarray(y_test)),
                       num_classes)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return Dataset(name, t(x[train]), t(y[train]), t(x[val]), t(y[val]), t(x[test]), t(y[test]),
                   num_classes)
