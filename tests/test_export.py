"""A trained student saved, loaded back, exported to ONNX and checked with ONNX Runtime."""

import pytest
import torch
from torch import nn

import kd_automl
from kd_automl.data import load_dataset
from kd_automl.distill.ce import CE
from kd_automl.engine.train import evaluate, fit
from kd_automl.errors import KDAutoMLError
from kd_automl.export import read_student, save_student
from kd_automl.export.onnx import check_onnx, export_onnx
from kd_automl.files import sha256_of
from kd_automl.models import build_model
from kd_automl.spec import TrainSpec

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    data = load_dataset("digits", seed=0)
    model = build_model("cnn", data.input_shape, 10, width=8, depth=2)
    fit(CE(model), data.x_train, data.y_train, TrainSpec(epochs=15, batch_size=64, lr=0.1),
        torch.device("cpu"))
    return model.eval(), data


def test_saved_student_loads_back_as_the_same_model(tmp_path, trained):
    model, data = trained
    saved = save_student(tmp_path / "s" / "student.pt", model, {"arch": "cnn", "width": 8,
                                                                "depth": 2}, (1, 8, 8), 10,
                         info={"trial": 3})
    assert saved.size == saved.path.stat().st_size and saved.sha256 == sha256_of(saved.path)
    assert not [p for p in saved.path.parent.iterdir() if p.name.endswith(".tmp")]
    loaded = kd_automl.load_student(saved.path, expected_sha256=saved.sha256)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(data.x_test), model(data.x_test))
    assert read_student(saved.path)["info"] == {"trial": 3}


def test_a_changed_or_foreign_file_is_one_clear_error(tmp_path, trained):
    model, _ = trained
    saved = save_student(tmp_path / "student.pt", model, {"arch": "cnn", "width": 8, "depth": 2},
                         (1, 8, 8), 10)
    with pytest.raises(KDAutoMLError, match="checksum differs"):
        kd_automl.load_student(saved.path, expected_sha256="0" * 64)
    saved.path.write_bytes(saved.path.read_bytes()[:100])
    with pytest.raises(KDAutoMLError, match="not a readable student file"):
        kd_automl.load_student(saved.path)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(KDAutoMLError, match="not a kd-automl student file"):
        kd_automl.load_student(tmp_path / "other.pt")


def test_onnx_gives_the_same_logits_and_accuracy_at_any_batch_size(tmp_path, trained):
    import onnxruntime as ort

    model, data = trained
    path = export_onnx(model, (1, 8, 8), tmp_path / "student.onnx")
    check = check_onnx(path, model, data.x_test, data.y_test, batch_size=97)
    assert check.images == len(data.y_test) and check.agrees
    assert check.max_abs_diff <= 1e-4
    assert check.torch_acc == pytest.approx(evaluate(model, data.x_test, data.y_test,
                                                     torch.device("cpu")))
    assert check.torch_acc > 0.5  # trained: not chance
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        (out,) = session.run(None, {"images": data.x_test[:n].numpy()})
        assert out.shape == (n, 10)


class Eigenvalues(nn.Module):
    def forward(self, x):
        return torch.linalg.eigvals(x[:, 0]).real  # complex eigenvalues: no ONNX op


def test_an_unsupported_op_is_one_clear_error_and_writes_nothing(tmp_path):
    one_line = r"^ONNX export failed for this student \(ConversionError: [^\x1b]*$"
    with pytest.raises(KDAutoMLError, match=one_line):
        export_onnx(Eigenvalues(), (1, 8, 8), tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []
