"""``kd-automl data download NAME``: fetch a dataset's files where a network exists."""

from __future__ import annotations

from pathlib import Path

from kd_automl.data.cifar import download_cifar
from kd_automl.data.idx import download_idx
from kd_automl.data.registry import dataset_names
from kd_automl.errors import KDAutoMLError

_DOWNLOADERS = {"cifar10": download_cifar, "cifar100": download_cifar,
                "fashion_mnist": download_idx, "mnist": download_idx}


def downloadable() -> list[str]:
    return sorted(_DOWNLOADERS)


def download(name: str, root: str | None = None) -> Path:
    """Download ``name`` into ``root`` (default: the data folder); returns where it landed."""
    if name not in _DOWNLOADERS:
        why = ("it needs no download" if name in dataset_names()
               else f"unknown dataset (known: {', '.join(dataset_names())})")
        raise KDAutoMLError(f"cannot download {name!r}: {why}; downloadable: "
                            f"{', '.join(downloadable())}")
    return _DOWNLOADERS[name](name, root)
