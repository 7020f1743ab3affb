"""CIFAR-10 and CIFAR-100 from torchvision's files (the python-pickle batches).

Loaded through ``torchvision.datasets.CIFAR10/100(root, download=False)``, which
checks every file's MD5. Images are normalised by the dataset's channel
mean/std. The test split is CIFAR's test set; validation is a seeded slice of
the training set (see :func:`kd_automl.data.load_dataset`).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from kd_automl.data.registry import register_dataset, register_preflight
from kd_automl.data.root import DATA_ENV, data_root
from kd_automl.errors import KDAutoMLError


def _dataset_class(name: str):
    """torchvision's dataset class for ``name`` (imported on first use: torchvision's import
    costs seconds that every process which never reads CIFAR would pay)."""
    import torchvision

    return {"cifar10": torchvision.datasets.CIFAR10,
            "cifar100": torchvision.datasets.CIFAR100}[name]
STATS = {  # channel mean, std of the training images (0..1 scale)
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def _missing(name: str, folder: Path) -> KDAutoMLError:
    cls = _dataset_class(name)
    sub = folder / cls.base_folder
    files = ", ".join(f for f, _ in cls.train_list + cls.test_list)
    state = "are incomplete or corrupted (MD5 mismatch)" if sub.exists() else "are missing"
    return KDAutoMLError(
        f"{name}: the dataset files {state} in {sub}. Run `kd-automl data download {name}` on a "
        f"machine with a network, or put the extracted python version of the dataset there "
        f"(folder {cls.base_folder}/ with {files}, {cls.meta['filename']}); "
        f"choose another folder with dataset.root or ${DATA_ENV}.")


def normalize(images_nhwc: np.ndarray, name: str) -> np.ndarray:
    """uint8 ``(N, H, W, C)`` -> float32 ``(N, C, H, W)`` normalised by ``name``'s mean/std."""
    mean, std = (np.asarray(v, dtype=np.float32)[:, None, None] for v in STATS[name])
    x = np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2), dtype=np.float32)
    x *= np.float32(1 / 255)
    x -= mean
    x /= std
    return x


def read_cifar(name: str, root: str | None = None, train: bool = True):
    """The torchvision dataset object for one split (raises a clear error when missing)."""
    folder = data_root(root)
    try:
        return _dataset_class(name)(str(folder), train=train, download=False)
    except RuntimeError:
        raise _missing(name, folder) from None


def _preflight(name: str, root: str | None = None) -> None:
    cls = _dataset_class(name)
    sub = data_root(root) / cls.base_folder
    names = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    if not all((sub / f).is_file() for f in names):
        raise _missing(name, data_root(root))


register_preflight("cifar10")(lambda root=None: _preflight("cifar10", root))
register_preflight("cifar100")(lambda root=None: _preflight("cifar100", root))


def _load(name: str, root: str | None):
    train, test = read_cifar(name, root, True), read_cifar(name, root, False)
    num_classes = len(train.classes)
    return (normalize(train.data, name), np.asarray(train.targets, dtype=np.int64), num_classes,
            (normalize(test.data, name), np.asarray(test.targets, dtype=np.int64)))


@register_dataset("cifar10", shape=(3, 32, 32))
def _cifar10(root: str | None = None):
    return _load("cifar10", root)


@register_dataset("cifar100", shape=(3, 32, 32))
def _cifar100(root: str | None = None):
    return _load("cifar100", root)


def download_cifar(name: str, root: str | None = None) -> Path:
    """Fetch ``name`` with torchvision (``download=True``) into the data folder."""
    folder = data_root(root)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for train in (True, False):
            _dataset_class(name)(str(folder), train=train, download=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        raise KDAutoMLError(
            f"could not download {name} into {folder} ({type(err).__name__}: {err}). Without a "
            f"network, copy the extracted python version ({_dataset_class(name).base_folder}/) "
            f"there from a machine that has it.") from None
    return folder / _dataset_class(name).base_folder


def write_fake_cifar(root: str | Path, name: str = "cifar100", n_train: int = 50,
                     n_test: int = 10, seed: int = 0) -> dict[str, dict]:
    """Write CIFAR-format files (the python-pickle batches) with random pixels, for tests and
    benchmarks. Returns the written batches by file name. torchvision checks the real files'
    MD5s, so loading these needs ``torchvision.datasets.cifar.check_integrity`` relaxed.
    """
    cls, rng = _dataset_class(name), np.random.default_rng(seed)
    folder = Path(root) / cls.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    classes, key = (100, "fine_labels") if name == "cifar100" else (10, "labels")
    train_files = [f for f, _ in cls.train_list]
    sizes = [n_train // len(train_files)] * len(train_files) + [n_test]
    written = {}
    for fname, n in zip([*train_files, cls.test_list[0][0]], sizes, strict=True):
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 key: rng.integers(0, classes, n).tolist()}
        (folder / fname).write_bytes(pickle.dumps(batch))
        written[fname] = batch
    names = [f"class{i}" for i in range(classes)]
    (folder / cls.meta["filename"]).write_bytes(pickle.dumps({cls.meta["key"]: names}))
    return written
