"""Datasets by name, the on-device batch loader, and on-device augmentation.

Importing this package, the registry or a data set's reader loads no torch (so a spec's
data set is checked without it); the torch names (``DeviceLoader``, the augmentations) load
their modules when first used, and :func:`load_dataset` returns tensors.

>>> from kd_automl.data import DeviceLoader, augment_batch, load_dataset
>>> data = load_dataset("digits", seed=0)
>>> xb, yb = next(iter(DeviceLoader(data.x_train, data.y_train, batch_size=64, shuffle=True)))
>>> augment_batch(xb, "flip", torch.Generator().manual_seed(0)).shape  # doctest: +SKIP
torch.Size([64, 1, 8, 8])
"""

import importlib

from kd_automl.data import cifar as _cifar  # noqa: F401  (registers cifar10, cifar100)
from kd_automl.data import idx as _idx  # noqa: F401  (registers fashion_mnist, mnist)
from kd_automl.data import image_folder as _image_folder  # noqa: F401  (registers image_folder)
from kd_automl.data.download import download, downloadable
from kd_automl.data.registry import (
    Dataset,
    check_dataset,
    dataset_names,
    dataset_shape,
    ensure_available,
    load_dataset,
    register_dataset,
    register_preflight,
)
from kd_automl.data.root import data_root

_TORCH = {"AUGMENTATIONS": "augment", "apply_flips": "augment", "augment_batch": "augment",
          "draw_flips": "augment", "DeviceLoader": "loader"}


def __getattr__(name: str):
    if name in _TORCH:
        return getattr(importlib.import_module(f"{__name__}.{_TORCH[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AUGMENTATIONS", "Dataset", "DeviceLoader", "apply_flips", "augment_batch",
           "check_dataset", "data_root", "dataset_names", "dataset_shape", "download",
           "downloadable", "draw_flips", "ensure_available", "load_dataset", "register_dataset",
           "register_preflight"]
