"""torchvision's DataLoader path, for datasets too large to hold on the device.

Per-image transforms in worker processes (random crop with padding, flip,
``ToTensor``, ``Normalize``): the classic pipeline, and the baseline that
``benchmarks/loader_speed.py`` compares the on-device loader against.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import transforms

from kd_automl.data.cifar import STATS, read_cifar
from kd_automl.data.image_folder import open_image_folder


def cifar_transform(name: str, augment: bool = True, pad: int = 4) -> transforms.Compose:
    """RandomCrop(32, padding) + RandomHorizontalFlip (when ``augment``), ToTensor, Normalize."""
    mean, std = STATS[name]
    steps: list = [transforms.RandomCrop(32, padding=pad), transforms.RandomHorizontalFlip()] \
        if augment else []
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(mean, std)])


def cifar_loader(name: str, root: str | None = None, *, train: bool = True, batch_size: int = 128,
                 augment: bool = True, workers: int = 0, seed: int = 0) -> DataLoader:
    """A shuffled (seeded) DataLoader over CIFAR's files with per-image transforms."""
    dataset = read_cifar(name, root, train)
    dataset.transform = cifar_transform(name, augment and train)
    return DataLoader(dataset, batch_size=batch_size, shuffle=train, num_workers=workers,
                      generator=torch.Generator().manual_seed(seed),
                      persistent_workers=workers > 0)


def image_folder_loader(root: str | Path, size: int = 224, *, train: bool = True,
                        batch_size: int = 64, workers: int = 4, seed: int = 0) -> DataLoader:
    """A DataLoader over an ``ImageFolder`` tree, decoded and augmented per image."""
    dataset = open_image_folder(root, size, augment=train)
    return DataLoader(dataset, batch_size=batch_size, shuffle=train, num_workers=workers,
                      generator=torch.Generator().manual_seed(seed),
                      persistent_workers=workers > 0)
