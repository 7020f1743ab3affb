"""On-device loader vs torchvision's DataLoader on CIFAR-format data: images per second.

Both sides produce the same thing, shuffled batches of normalised float images
with random crop (padding 4) and horizontal flip, from the same CIFAR-10-format
files (the python-pickle batches, written to a temp folder):

- torchvision: ``DataLoader`` over ``torchvision.datasets.CIFAR10`` with
  ``RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize``
  (per image, in Python), with 0 and 2 worker processes;
- kd-automl: ``load_dataset`` once, then ``DeviceLoader`` + ``augment_batch``
  (whole batch, on the device).

The main process uses ``--threads`` intra-op threads (default 1, as in each
DataLoader worker): on a CPU shared with other jobs, multi-threaded small ops
wait on busy cores, which skews any comparison.

    uv run python benchmarks/loader_speed.py [--images 10000] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
import torchvision

from kd_automl.data import DeviceLoader, augment_batch, load_dataset
from kd_automl.data.cifar import write_fake_cifar
from kd_automl.data.torch_loader import cifar_loader


def _relax_md5() -> None:
    """The files are CIFAR-format but not CIFAR's own, so their MD5s differ."""
    torchvision.datasets.cifar.check_integrity = lambda fpath, md5=None: os.path.isfile(fpath)


def torchvision_rate(root: str, batch_size: int, workers: int, min_s: float) -> float:
    loader = cifar_loader("cifar10", root, batch_size=batch_size, workers=workers)
    seen, start = 0, time.perf_counter()
    while True:
        for x, _ in loader:
            seen += len(x)
        if time.perf_counter() - start >= min_s:
            return seen / (time.perf_counter() - start)


def device_rate(root: str, batch_size: int, device: torch.device, min_s: float) -> float:
    data = load_dataset("cifar10", {"root": root}, val_fraction=0.01)
    loader = DeviceLoader(data.x_train, data.y_train, batch_size=batch_size, shuffle=True,
                          device=device)
    gen = torch.Generator().manual_seed(0)
    seen, start = 0, time.perf_counter()
    while True:
        for x, _ in loader:
            seen += len(augment_batch(x, "crop_flip", gen))
        if device.type == "cuda":
            torch.cuda.synchronize()
        if time.perf_counter() - start >= min_s:
            return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="training images written")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum time per side")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads of this process (DataLoader workers use 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _relax_md5()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as root:
        write_fake_cifar(root, "cifar10", n_train=args.images, n_test=100)
        start = time.perf_counter()
        load_dataset("cifar10", {"root": root})
        load_s = time.perf_counter() - start
        ours = device_rate(root, args.batch_size, device, args.seconds)
        theirs = {w: torchvision_rate(root, args.batch_size, w, args.seconds) for w in (0, 2)}
    best = max(theirs.values())
    print(f"CIFAR-format data, {args.images} images, batch {args.batch_size}, crop+flip, "
          f"device {device}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    for w, rate in theirs.items():
        print(f"  torchvision DataLoader + transforms, {w} workers: {rate:10,.0f} images/s")
    print(f"  kd-automl DeviceLoader + augment_batch:     {ours:10,.0f} images/s "
          f"(one-time load into memory: {load_s:.2f} s)")
    print(f"loader speed-up: {ours / best:.1f}x (vs the faster torchvision setting)")


if __name__ == "__main__":
    main()
