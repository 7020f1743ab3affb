"""Datasets (CIFAR files through torchvision, image folders, errors), loader and augmentation."""

import urllib.error

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from kd_automl.data import (
    DeviceLoader,
    augment_batch,
    download,
    ensure_available,
    load_dataset,
)
from kd_automl.data.cifar import STATS, write_fake_cifar
from kd_automl.errors import KDAutoMLError


@pytest.fixture
def no_md5(monkeypatch):
    """Our files are not the real ones: skip only torchvision's MD5 comparison."""
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity",
                        lambda fpath, md5=None: __import__("os").path.isfile(fpath))


@pytest.mark.parametrize("name", ["cifar100", "cifar10"])
def test_cifar_pickles_load_through_torchvision(tmp_path, no_md5, name):
    n_train = 60 if name == "cifar10" else 40  # cifar10 has five training batches
    files = write_fake_cifar(tmp_path, name, n_train=n_train)
    data = load_dataset(name, {"root": str(tmp_path)}, seed=3, val_fraction=0.25)
    assert data.num_classes == (100 if name == "cifar100" else 10)
    assert data.x_train.shape == (n_train * 3 // 4, 3, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert len(data.y_val) == n_train // 4
    test = files["test"] if name == "cifar100" else files["test_batch"]
    label_key = "fine_labels" if name == "cifar100" else "labels"
    assert data.y_test.tolist() == test[label_key]  # the fixed test split, in file order
    raw = test["data"][0].reshape(3, 32, 32)
    mean, std = STATS[name]
    expected = (raw[:, 5, 7] / 255.0 - np.array(mean)) / np.array(std)
    assert np.allclose(data.x_test[0, :, 5, 7].numpy(), expected, atol=1e-5)


def test_cifar_root_from_environment(tmp_path, no_md5, monkeypatch):
    write_fake_cifar(tmp_path / "elsewhere")
    monkeypatch.setenv("KD_AUTOML_DATA", str(tmp_path / "elsewhere"))
    assert len(load_dataset("cifar100").y_test) == 10


@pytest.mark.parametrize("check", [load_dataset, ensure_available])
def test_missing_cifar_names_the_folder_and_the_command(tmp_path, check):
    with pytest.raises(KDAutoMLError) as err:
        check("cifar100", {"root": str(tmp_path)})
    msg = str(err.value)
    assert str(tmp_path / "cifar-100-python") in msg and "missing" in msg
    assert "kd-automl data download cifar100" in msg and "KD_AUTOML_DATA" in msg


def test_preflight_passes_when_files_are_there(tmp_path):
    write_fake_cifar(tmp_path, "cifar10", n_train=5)
    ensure_available("cifar10", {"root": str(tmp_path)})
    ensure_available("digits")
    with pytest.raises(KDAutoMLError, match="not a folder"):
        ensure_available("image_folder", {"root": str(tmp_path / "nope")})


def test_corrupted_cifar_is_reported(tmp_path):
    write_fake_cifar(tmp_path)  # files exist but their MD5s are not CIFAR's
    with pytest.raises(KDAutoMLError, match="corrupted"):
        load_dataset("cifar100", {"root": str(tmp_path)})


def test_download_offline_gives_a_clear_error(tmp_path, monkeypatch):
    def offline(self, *a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.CIFAR100, "download", offline)
    with pytest.raises(KDAutoMLError, match="could not download cifar100"):
        download("cifar100", str(tmp_path))
    with pytest.raises(KDAutoMLError, match="needs no download"):
        download("digits")
    from kd_automl.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["data", "download", "cifar100", "--root", str(tmp_path)])
    assert exit_.value.code == 1


def test_image_folder_from_pngs(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / c / f"{i}.png")
    opts = {"root": str(tmp_path / "train"), "size": 8, "test_root": str(tmp_path / "test")}
    data = load_dataset("image_folder", opts, val_fraction=0.2)
    assert data.num_classes == 2 and data.input_shape == (3, 8, 8)
    assert len(data.y_train) + len(data.y_val) == 6 and data.y_test.tolist() == [0, 0, 1, 1]
    pooled = load_dataset("image_folder", {"root": str(tmp_path / "train"), "size": 8})
    assert len(pooled.y_train) + len(pooled.y_val) + len(pooled.y_test) == 6
    with pytest.raises(KDAutoMLError, match="not a folder"):
        load_dataset("image_folder", {"root": str(tmp_path / "nope")})


def test_digits_and_synthetic_split_as_before():
    data = load_dataset("digits", seed=0)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (1079, 359, 359)
    syn = load_dataset("synthetic", {"num_samples": 50, "num_classes": 100})
    assert syn.input_shape == (3, 32, 32) and syn.num_classes == 100


def test_device_loader_is_a_seeded_permutation():
    x, y = torch.arange(10.0)[:, None], torch.arange(10)

    def epochs(seed):
        loader = DeviceLoader(x, y, batch_size=4, shuffle=True, seed=seed)
        return [[b[1].tolist() for b in loader] for _ in range(2)]

    first = epochs(0)
    assert first == epochs(0) and first != epochs(1)
    assert first[0] != first[1]  # a new permutation every epoch
    for epoch in first:
        assert sorted(sum(epoch, [])) == list(range(10)) and [len(b) for b in epoch] == [4, 4, 2]
    xb, yb = next(iter(DeviceLoader(x, y, batch_size=3, shuffle=True)))
    assert torch.equal(xb[:, 0].long(), yb)  # rows stay aligned


def test_augment_crop_is_a_window_of_the_zero_padded_image_and_flip_flips():
    x = torch.randn(32, 3, 6, 5)
    padded = F.pad(x, (2, 2, 2, 2))
    out = augment_batch(x, "crop_flip", torch.Generator().manual_seed(0), pad=2)
    flipped_any = shifted_any = False
    for i in range(len(x)):
        hits = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                if torch.equal(out[i], (lambda w: w.flip(2) if f else w)(
                    padded[i, :, dy:dy + 6, dx:dx + 5]))]
        assert hits, f"sample {i} is not a (flipped) window of the padded image"
        flipped_any |= hits[0][2]
        shifted_any |= hits[0][:2] != (2, 2)
    assert flipped_any and shifted_any
    again = augment_batch(x, "crop_flip", torch.Generator().manual_seed(0), pad=2)
    assert torch.equal(out, again)
    flips = augment_batch(x, "flip", torch.Generator().manual_seed(1))
    kinds = [torch.equal(flips[i], x[i]) for i in range(len(x))]
    assert all(k or torch.equal(flips[i], x[i].flip(2)) for i, k in enumerate(kinds))
    assert any(kinds) and not all(kinds)
    assert augment_batch(x, "none") is x


def test_dataset_moves_to_a_device_whole():
    data = load_dataset("synthetic", {"num_samples": 20}).to("meta")
    assert data.x_train.device.type == "meta" and data.y_test.device.type == "meta"
    assert data.num_classes == 10 and data.input_shape == (3, 32, 32)


def test_flip_views_match_augment_batch():
    from kd_automl.data import apply_flips, draw_flips

    x = torch.randn(16, 3, 4, 4)
    flips = draw_flips(16, torch.Generator().manual_seed(5))
    views = torch.stack([x, x.flip(3)])  # the two cached views, e.g. for teacher logits
    picked = views[flips.long(), torch.arange(16)]
    assert torch.equal(apply_flips(x, flips), picked)
    assert torch.equal(augment_batch(x, "flip", torch.Generator().manual_seed(5)), picked)
