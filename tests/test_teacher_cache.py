"""Teachers are trained once, reused, and a broken cache entry is retrained, never used."""

import json

import pytest
import torch

from kd_automl.engine import train_teacher
from kd_automl.engine.trial import get_dataset
from kd_automl.spec import parse_spec
from kd_automl.workspace import Workspace


@pytest.fixture
def setup(tmp_path, tiny_spec_dict):
    spec = parse_spec(tiny_spec_dict)
    return spec, get_dataset(spec), Workspace.resolve(tmp_path / "ws")


def test_second_call_reuses_the_checkpoint(setup):
    spec, data, ws = setup
    first = train_teacher(spec, data, ws, torch.device("cpu"))
    second = train_teacher(spec, data, ws, torch.device("cpu"))
    assert not first.reused and second.reused
    assert second.metrics == first.metrics
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_a_different_budget_is_a_different_teacher(setup, tiny_spec_dict):
    spec, data, ws = setup
    train_teacher(spec, data, ws, torch.device("cpu"))
    tiny_spec_dict["teacher_train"]["epochs"] = 5
    other = train_teacher(parse_spec(tiny_spec_dict), data, ws, torch.device("cpu"))
    assert not other.reused


@pytest.mark.parametrize("damage", ["truncate", "garbage", "no_manifest", "bad_hash"])
def test_corrupt_cache_is_detected_and_retrained(setup, damage, caplog):
    spec, data, ws = setup
    first = train_teacher(spec, data, ws, torch.device("cpu"))
    ckpt = first.path
    manifest = ckpt.with_suffix(".json")
    if damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[:100])
    elif damage == "garbage":
        ckpt.write_bytes(b"\x00" * 4096)
    elif damage == "no_manifest":
        manifest.unlink()
    else:
        meta = json.loads(manifest.read_text())
        meta["sha256"] = "0" * 64
        manifest.write_text(json.dumps(meta))
    again = train_teacher(spec, data, ws, torch.device("cpu"))
    assert not again.reused
    assert "unusable" in caplog.text or damage == "no_manifest"
    assert train_teacher(spec, data, ws, torch.device("cpu")).reused  # repaired entry is used


def test_teacher_logits_are_computed_once_and_a_broken_file_is_recomputed(setup):
    from kd_automl.engine import teacher_outputs

    spec, data, ws = setup
    cached = train_teacher(spec, data, ws, torch.device("cpu"))
    first = teacher_outputs.teacher_logits(cached, data.x_train, "train", torch.device("cpu"))
    files = list(ws.root.glob("teachers/*.train.logits.pt"))
    assert len(files) == 1 and first.shape == (len(data.x_train), data.num_classes)
    teacher_outputs._MEMO.clear()
    again = teacher_outputs.teacher_logits(cached, data.x_train, "train", torch.device("cpu"))
    assert torch.equal(first, again)  # read back from disk
    files[0].write_bytes(b"garbage")
    teacher_outputs._MEMO.clear()
    repaired = teacher_outputs.teacher_logits(cached, data.x_train, "train", torch.device("cpu"))
    assert torch.allclose(repaired, first)


def test_a_process_reuses_the_teacher_it_verified_until_its_file_changes(setup, monkeypatch):
    """The second trial of a search skips the lock, the checksum and the load; a file that
    changed on disk is verified again (and a broken one retrained)."""
    from kd_automl.engine import teacher_cache

    spec, data, ws = setup
    first = train_teacher(spec, data, ws, torch.device("cpu"))
    loads = []
    real = teacher_cache._try_load
    monkeypatch.setattr(teacher_cache, "_try_load",
                        lambda *a: loads.append(1) or real(*a))
    second = train_teacher(spec, data, ws, torch.device("cpu"))
    assert second.reused and loads == []  # from this process's memory
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    first.path.write_bytes(b"\x00" * 4096)  # changed on disk: verified again, retrained
    again = train_teacher(spec, data, ws, torch.device("cpu"))
    assert loads == [1] and not again.reused


def test_the_students_profile_is_measured_once_per_architecture(setup, monkeypatch):
    from kd_automl.engine import trial
    from kd_automl.engine.result import TrialResult
    from kd_automl.models import build_model

    spec, data, _ = setup
    calls = []
    real = trial.profile
    monkeypatch.setattr(trial, "profile", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(trial, "_PROFILES", {})
    results = [TrialResult() for _ in range(3)]
    for width, result in zip((8, 8, 16), results, strict=True):
        model = build_model("mlp", data.input_shape, 10, width=width, depth=1)
        trial.record_profile(result, model, data)
    assert len(calls) == 2  # the second width-8 student reused the first one's profile
    assert results[0].student_params == results[1].student_params != results[2].student_params
    assert results[1].student_flops == results[0].student_flops > 0
