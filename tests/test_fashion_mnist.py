"""MNIST and Fashion-MNIST: the IDX reader, its errors, the LeNet-5 pair, and a real run."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from kd_automl.cli import main
from kd_automl.data import augment_batch, dataset_shape, ensure_available, load_dataset
from kd_automl.data.idx import DEBIAN_FOLDER, stratified_first, write_idx
from kd_automl.errors import KDAutoMLError
from kd_automl.models import build_model, check_model, count_params
from kd_automl.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
HAS_FASHION = (DEBIAN_FOLDER / "train-images-idx3-ubyte.gz").is_file()
needs_fashion = pytest.mark.skipif(not HAS_FASHION, reason="apt-get install "
                                   "dataset-fashion-mnist (.ci/run installs it)")


def write_mnist(folder: Path, n_train=40, n_test=20, gz=True, seed=0):
    """A tiny MNIST in IDX files: image i of class c is filled with the value 10 * c + i % 5."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.stack([np.full((28, 28), 10 * c + i % 5, np.uint8)
                           for i, c in enumerate(labels)])
        suffix = ".gz" if gz else ""
        write_idx(folder / (FILES[split][0] + suffix), images)
        write_idx(folder / (FILES[split][1] + suffix), labels)
        out[split] = images, labels
    return out


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
def test_mnist_is_read_from_idx_files_and_normalised(tmp_path, gz):
    written = write_mnist(tmp_path, gz=gz)
    data = load_dataset("mnist", {"root": str(tmp_path)}, seed=0, val_fraction=0.25)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert len(data.y_train) == 30 and len(data.y_val) == 10  # a seeded slice of the 40
    images, labels = written["test"]  # the official test split, in file order
    assert data.y_test.tolist() == labels.tolist()
    expected = (images[3].astype(np.float32) / 255 - 0.1307) / 0.3081
    assert np.allclose(data.x_test[3, 0].numpy(), expected, atol=1e-5)
    train_images, train_labels = written["train"]
    pairs = {(float(x[0, 0, 0]), int(y)) for x, y in zip(data.x_train, data.y_train, strict=True)}
    originals = {(round((float(im[0, 0]) / 255 - 0.1307) / 0.3081, 4), int(c))
                 for im, c in zip(train_images, train_labels, strict=True)}
    assert {(round(v, 4), c) for v, c in pairs} <= originals  # images keep their labels


def test_torchvision_download_layout_is_found(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", gz=False)
    assert len(load_dataset("mnist", {"root": str(tmp_path)}).y_test) == 20


def test_limit_keeps_the_first_images_stratified(tmp_path):
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    assert stratified_first(labels, 6).tolist() == [0, 1, 4, 5, 6, 7]
    write_mnist(tmp_path, n_train=200)
    data = load_dataset("mnist", {"root": str(tmp_path), "limit": 50}, val_fraction=0.2)
    counts = np.bincount(torch.cat([data.y_train, data.y_val]).numpy(), minlength=10)
    assert counts.sum() == 50 and counts.max() - counts.min() <= 1


def test_missing_files_name_both_ways_to_get_them(tmp_path):
    with pytest.raises(KDAutoMLError) as err:
        ensure_available("fashion_mnist", {"root": str(tmp_path)})
    message = str(err.value)
    assert "\n" not in message and str(tmp_path) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "kd-automl data download fashion_mnist" in message
    with pytest.raises(KDAutoMLError, match="kd-automl data download mnist"):
        load_dataset("mnist", {"root": str(tmp_path)})


def test_truncated_and_corrupted_files_are_named(tmp_path):
    write_mnist(tmp_path)
    images = tmp_path / (FILES["train"][0] + ".gz")
    images.write_bytes(images.read_bytes()[:-40])  # truncated gzip stream
    with pytest.raises(KDAutoMLError, match=f"{images}: not a readable gzip file"):
        load_dataset("mnist", {"root": str(tmp_path)})
    images.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(100)))  # a labels header
    with pytest.raises(KDAutoMLError, match="wrong magic number"):
        load_dataset("mnist", {"root": str(tmp_path)})
    header = b"\x00\x00\x08\x03" + (40).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    images.write_bytes(gzip.compress(header + bytes(28 * 28 * 39)))  # one image short
    with pytest.raises(KDAutoMLError, match="truncated or corrupted"):
        load_dataset("mnist", {"root": str(tmp_path)})


def test_lenet5_pair_has_zskd_parameter_counts():
    assert count_params(build_model("lenet5", (1, 28, 28), 10)) == 61_706
    assert count_params(build_model("lenet5_half", (1, 28, 28), 10)) == 35_820
    assert count_params(build_model("lenet5", (1, 32, 32), 10, input_size=32)) == 61_706
    hinton = build_model("hinton_teacher", (1, 28, 28), 10)
    assert count_params(hinton) == 784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in hinton.modules())
    assert sum(isinstance(m, torch.nn.Dropout) for m in hinton.modules()) == 3
    logits, feats = build_model("lenet5_half", (1, 28, 28), 10).forward_features(
        torch.zeros(2, 1, 28, 28))
    assert logits.shape == (2, 10) and [f.shape[1:] for f in feats] == [(3, 14, 14), (8, 5, 5)]


def test_a_32_pixel_model_option_on_28_pixel_data_is_one_clear_error(tiny_spec_dict):
    assert dataset_shape("fashion_mnist") == (1, 28, 28)
    with pytest.raises(KDAutoMLError, match=r"^student\.input_size: lenet5 is set for 32x32"):
        check_model("lenet5", {"input_size": 32}, "student", input_shape=(1, 28, 28))
    tiny_spec_dict.update(dataset={"name": "fashion_mnist"},
                          teacher={"arch": "lenet5"},
                          student={"arch": "lenet5_half", "input_size": 32})
    with pytest.raises(KDAutoMLError, match=r"student\.input_size: .* 28x28"):
        parse_spec(tiny_spec_dict)


def test_check_refuses_an_unknown_dataset_option(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text((ROOT / "search_spaces" / "fashion_mnist_kd.yaml").read_text().replace(
        "val_fraction: 0.1}", "val_fraction: 0.1, subsample: 5}"))
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(spec)])
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    assert exit_info.value.code == 1
    assert "dataset.subsample: unknown option for 'fashion_mnist'" in out
    assert "Traceback" not in out


def test_crop_without_flip_and_its_28_pixel_padding():
    x = torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28).repeat(64, 1, 1, 1)
    out = augment_batch(x, "crop", torch.Generator().manual_seed(0))
    # padding 2: every crop keeps the centre 24x24 pixels in place up to a shift of 2
    for img in out:
        centre = img[0, 2:26, 2:26]
        shifts = {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                  if torch.equal(centre, x[0, 0, 2 + dy:26 + dy, 2 + dx:26 + dx])}
        assert shifts  # a pure shift, never mirrored
    assert not torch.equal(out, x)


@pytest.mark.parametrize("spec", sorted((ROOT / "search_spaces").glob("fashion_mnist_*.yaml"))
                         + sorted((ROOT / "search_spaces" / "reproduce").glob("fashion_*.yaml")),
                         ids=lambda p: p.stem)
def test_fashion_mnist_specs_pass_check(capsys, spec):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(spec)])
    out = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code in (0, None), out


@needs_fashion
def test_a_few_epochs_on_the_real_files_learn_far_above_chance(workspace, one_thread):
    from kd_automl.engine import run_trial
    from kd_automl.workspace import Workspace

    spec = parse_spec({
        "name": "fmnist-real", "dataset": {"name": "fashion_mnist", "limit": 3000},
        "teacher": {"arch": "lenet5"}, "student": {"arch": "lenet5_half"},
        "method": {"name": "kd", "temperature": 4.0, "alpha": 0.5},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.05, "augment": "crop_flip"},
        "teacher_train": {"epochs": 3, "batch_size": 64, "lr": 0.05}})
    result = run_trial(spec, Workspace.resolve(workspace))
    assert result.status == "complete", result.error
    assert result.teacher_test_acc > 0.6 and result.student_test_acc > 0.6  # chance is 0.1
    assert result.student_params == 35_820
