"""Your own images: one sub-folder per class (torchvision's ``ImageFolder`` layout).

Every image is decoded once, resized to ``size`` x ``size`` and held in memory
(the on-device loader's way), normalised by the training images' channel
mean/std. ``test_root`` gives a fixed test split with the same classes;
without it the images are split by the seeded permutation. For data too large
to hold in memory, use :func:`kd_automl.data.torch_loader.image_folder_loader`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kd_automl.data.registry import register_dataset, register_preflight
from kd_automl.errors import KDAutoMLError

if TYPE_CHECKING:
    import torchvision


def open_image_folder(root: str | Path, size: int, grayscale: bool = False,
                      augment: bool = False) -> torchvision.datasets.ImageFolder:
    """``ImageFolder`` yielding ``(C, size, size)`` tensors in [0, 1] (clear error if missing)."""
    import torchvision  # on first use: its import costs seconds
    from torchvision import transforms

    root = Path(root).expanduser()
    if not root.is_dir():
        raise KDAutoMLError(f"image_folder: {root} is not a folder; it should hold one "
                            f"sub-folder of images per class (dataset.root)")
    steps: list = [transforms.Grayscale()] if grayscale else []
    steps += [transforms.Resize((size, size))]
    if augment:
        steps += [transforms.RandomCrop(size, padding=size // 8), transforms.RandomHorizontalFlip()]
    steps.append(transforms.ToTensor())
    try:
        return torchvision.datasets.ImageFolder(str(root), transform=transforms.Compose(steps))
    except (FileNotFoundError, OSError) as err:
        raise KDAutoMLError(f"image_folder: cannot read {root}: {err}") from None


def _read_all(folder: torchvision.datasets.ImageFolder) -> tuple[np.ndarray, np.ndarray]:
    import torch

    loader = torch.utils.data.DataLoader(folder, batch_size=256)
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs).numpy(), torch.cat(ys).numpy().astype(np.int64)


@register_dataset("image_folder", shape=lambda size=32, grayscale=False, **_:
                  (1 if grayscale else 3, size, size))
def _image_folder(root: str | None = None, size: int = 32, test_root: str | None = None,
                  grayscale: bool = False):
    if not root:
        raise KDAutoMLError("image_folder: dataset.root is required (a folder with one "
                            "sub-folder of images per class)")
    train = open_image_folder(root, size, grayscale)
    x, y = _read_all(train)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    std = x.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    out = ((x - mean) / std).astype(np.float32), y, len(train.classes)
    if test_root is None:
        return out
    test = open_image_folder(test_root, size, grayscale)
    if test.classes != train.classes:
        raise KDAutoMLError(f"image_folder: test_root classes {test.classes} differ from "
                            f"root classes {train.classes}")
    xt, yt = _read_all(test)
    return (*out, (((xt - mean) / std).astype(np.float32), yt))


@register_preflight("image_folder")
def _image_folder_preflight(root: str | None = None, test_root: str | None = None, **_) -> None:
    for folder in (root, test_root):
        if folder is not None and not Path(folder).expanduser().is_dir():
            raise KDAutoMLError(f"image_folder: {folder} is not a folder; it should hold one "
                                f"sub-folder of images per class")
    if not root:
        raise KDAutoMLError("image_folder: dataset.root is required")
