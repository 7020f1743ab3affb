"""MNIST and Fashion-MNIST from their IDX files (the original ``*-ubyte`` files, gzipped or not).

Files are looked for in ``dataset.root``, else ``$KD_AUTOML_DATA``, else the workspace's
data folder (each also in torchvision's download layout, ``<folder>/FashionMNIST/raw``), and
for ``fashion_mnist`` in the folder of Debian's ``dataset-fashion-mnist`` package. The test
split is the official test set; validation is a seeded slice of the training set. Images are
normalised by the training set's mean and std; ``limit: N`` keeps the first N training images,
stratified by class (for quick runs and tests).

>>> data = load_dataset("fashion_mnist", {"limit": 1000})  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kd_automl.data.registry import register_dataset, register_preflight
from kd_automl.data.root import DATA_ENV, data_root
from kd_automl.errors import KDAutoMLError

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}  # unsigned bytes, 3 or 1 dimensions


@dataclass(frozen=True)
class IdxSet:
    """One IDX data set: where torchvision puts it and how to normalise it."""

    name: str
    torchvision_class: str
    mean: float  # of the training images, 0..1 scale
    std: float
    debian_package: str | None = None

    def folders(self, root: str | None) -> list[Path]:
        """Where the files are looked for, first match wins."""
        base = data_root(root)
        found = [base, base / self.torchvision_class / "raw"]
        if self.debian_package and not root:
            found.append(DEBIAN_FOLDER)
        return found


SETS = {
    "fashion_mnist": IdxSet("fashion_mnist", "FashionMNIST", 0.2860, 0.3530,
                            debian_package="dataset-fashion-mnist"),
    "mnist": IdxSet("mnist", "MNIST", 0.1307, 0.3081),
}


def _how_to_get(ds: IdxSet, root: str | None) -> str:
    where = data_root(root)
    ways = []
    if ds.debian_package:
        ways.append(f"`apt-get install {ds.debian_package}` (files in {DEBIAN_FOLDER}, read "
                    "when dataset.root is not set)")
    ways.append(f"`kd-automl data download {ds.name}` on a machine with a network")
    ways.append(f"put {', '.join(f + '.gz' for pair in SPLITS.values() for f in pair)} in "
                f"{where} (choose the folder with dataset.root or ${DATA_ENV})")
    return "Get it with " + ", or ".join(ways) + "."


def _find(ds: IdxSet, root: str | None, stem: str) -> Path | None:
    for folder in ds.folders(root):
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def _missing_files(ds: IdxSet, root: str | None) -> list[str]:
    return [stem for pair in SPLITS.values() for stem in pair if _find(ds, root, stem) is None]


def read_idx(path: Path, dims: int) -> np.ndarray:
    """The uint8 array of an IDX file (``dims`` = 3 for images, 1 for labels).

    Raises :class:`KDAutoMLError` naming the file when it is truncated, not gzip or not IDX.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise KDAutoMLError(f"{path}: not a readable gzip file ({err}); the file is truncated or "
                            "corrupted: fetch it again") from None
    if len(raw) < 4 + 4 * dims or int.from_bytes(raw[:4], "big") != _IDX_MAGIC[dims]:
        raise KDAutoMLError(f"{path}: not an IDX file of {dims}-D unsigned bytes (wrong magic "
                            "number): is it the right file?")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise KDAutoMLError(f"{path}: holds {body.size} bytes of data where its header says "
                            f"{'x'.join(map(str, shape))}; the file is truncated or corrupted")
    return body.reshape(shape)


def read_split(ds: IdxSet, root: str | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 28, 28) uint8, labels (N,) uint8)`` of one split."""
    missing = _missing_files(ds, root)
    if missing:
        raise _missing_error(ds, root, missing)
    images_path, labels_path = (_find(ds, root, stem) for stem in SPLITS[split])
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise KDAutoMLError(f"{images_path}: {len(images)} images but {labels_path} has "
                            f"{len(labels)} labels; one of the files is from another set")
    if labels.max(initial=0) > 9:
        raise KDAutoMLError(f"{labels_path}: label {labels.max()} outside 0-9")
    return images, labels


def _missing_error(ds: IdxSet, root: str | None, missing: list[str]) -> KDAutoMLError:
    looked = ", ".join(str(f) for f in ds.folders(root))
    return KDAutoMLError(f"{ds.name}: dataset files missing ({', '.join(missing)}; looked in "
                         f"{looked}). {_how_to_get(ds, root)}")


def stratified_first(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of the first ``n`` images taking classes in turn (file order within a class).

    >>> stratified_first(np.array([0, 0, 0, 1, 1, 1]), 4).tolist()
    [0, 1, 3, 4]
    """
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        rank[where] = np.arange(len(where))
    order = np.lexsort((labels, rank))  # rank first, then class
    return np.sort(order[:n])


def normalize(images: np.ndarray, ds: IdxSet) -> np.ndarray:
    """uint8 ``(N, H, W)`` -> float32 ``(N, 1, H, W)`` normalised by the set's mean and std."""
    x = images.astype(np.float32)[:, None]
    x *= np.float32(1 / (255 * ds.std))
    x -= np.float32(ds.mean / ds.std)
    return x


def load_idx_set(name: str, root: str | None = None, limit: int | None = None):
    """``(train images, labels, 10, (test images, labels))`` for the registry."""
    ds = SETS[name]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 10):
        raise KDAutoMLError(f"dataset.limit: must be an integer >= 10, got {limit!r}")
    x, y = read_split(ds, root, "train")
    if limit is not None and limit < len(y):
        keep = stratified_first(y, limit)
        x, y = x[keep], y[keep]
    x_test, y_test = read_split(ds, root, "test")
    return (normalize(x, ds), y.astype(np.int64), 10,
            (normalize(x_test, ds), y_test.astype(np.int64)))


def _preflight(name: str, root: str | None = None, limit: int | None = None) -> None:
    missing = _missing_files(SETS[name], root)
    if missing:
        raise _missing_error(SETS[name], root, missing)


def _register(name: str) -> None:
    def loader(root: str | None = None, limit: int | None = None):
        return load_idx_set(name, root, limit)

    def preflight(root: str | None = None, limit: int | None = None) -> None:
        _preflight(name, root, limit)

    register_dataset(name, shape=(1, 28, 28))(loader)
    register_preflight(name)(preflight)


for _name in SETS:
    _register(_name)


def download_idx(name: str, root: str | None = None) -> Path:
    """Fetch ``name`` with torchvision's downloader into ``<data folder>/<Class>/raw``."""
    import torchvision

    folder = data_root(root)
    folder.mkdir(parents=True, exist_ok=True)
    cls = getattr(torchvision.datasets, SETS[name].torchvision_class)
    try:
        cls(str(folder), train=True, download=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        why = " ".join(line.strip() for line in str(err).splitlines() if line.strip())[:300]
        raise KDAutoMLError(f"could not download {name} into {folder} ({type(err).__name__}: "
                            f"{why}). {_how_to_get(SETS[name], root)}") from None
    return folder / SETS[name].torchvision_class / "raw"


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzipped when ``path`` ends in ``.gz``), for tests."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = _IDX_MAGIC[array.ndim].to_bytes(4, "big") + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)
    return path
