"""``kd-automl export``: a searched trial as spec.yaml, student.pt, student.onnx and a card."""

import copy
import json

import pytest
import torch
import yaml
from conftest import TINY

import kd_automl
from kd_automl.cli import main
from kd_automl.engine.train import evaluate
from kd_automl.engine.trial import get_dataset
from kd_automl.files import sha256_of
from kd_automl.orchestrate.optuna.run import run_study
from kd_automl.spec import load_spec, parse_spec
from kd_automl.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 4-trial study on digits that keeps the weights of its top 2."""
    torch.set_num_threads(1)
    ws = tmp_path_factory.mktemp("export") / "ws"
    data = copy.deepcopy(TINY)
    data["student"] = {"arch": "cnn", "width": 8}
    data["train"]["epochs"] = 4
    data["artifacts"] = {"keep": "top", "top": 2}
    summary = run_study(parse_spec(data), n_trials=4, workspace=ws)
    store = Store(summary.db)
    return ws, store, store.trials(role="search")


def test_export_best_writes_a_spec_check_accepts_weights_onnx_and_a_card(capsys, tmp_path,
                                                                         searched):
    ws, store, trials = searched
    out = tmp_path / "out"
    code, text, err = run(capsys, "export", "-e", "tiny-kd", "--best", "-o", str(out),
                          "-w", str(ws))
    assert code == 0, err
    best = max((t for t in trials if t.state == "complete"),
               key=lambda t: (t.student_val_acc, -t.id))
    assert f"#{best.backend_trial_id}" in text
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "card.json", "spec.yaml",
                                                     "student.onnx", "student.pt"]
    # spec.yaml: the trial's values written in, no search, the experiment's name; check takes it
    spec = load_spec(out / "spec.yaml")
    assert spec.search == {} and spec.name == "tiny-kd"
    assert spec.method.options["temperature"] == pytest.approx(best.params["method.temperature"])
    assert spec.method.options["alpha"] == pytest.approx(best.params["method.alpha"])
    assert run(capsys, "check", str(out / "spec.yaml"))[0] == 0
    # student.pt: the kept file, rebuilt in eval mode with the trial's test accuracy
    assert sha256_of(out / "student.pt") == best.weights.sha256
    model = kd_automl.load_student(out / "student.pt")
    data = get_dataset(spec)
    assert not model.training
    assert evaluate(model, data.x_test, data.y_test, torch.device("cpu")) == \
        pytest.approx(best.student_test_acc)
    # the card: what a reader needs, checked ONNX included
    card = json.loads((out / "card.json").read_text())
    assert card["trial"] == best.backend_trial_id and card["test_acc"] == best.student_test_acc
    assert card["teacher"]["test_acc"] == best.teacher_test_acc
    assert card["student"]["params"] == best.student_params > 0
    assert card["method"]["name"] == "kd" and card["reproduce"] == "kd-automl train spec.yaml"
    assert card["onnx"]["max_abs_logit_diff"] <= 1e-4 and card["onnx"]["agrees"]
    assert card["onnx"]["onnxruntime_test_acc"] == card["onnx"]["torch_test_acc"] == \
        pytest.approx(best.student_test_acc)
    readme = (out / "README.md").read_text()
    assert f"{100 * best.student_test_acc:.2f}%" in readme and "kd-automl train" in readme


def test_a_trial_that_kept_no_weights_is_one_error_and_spec_only_still_exports(
        capsys, tmp_path, searched):
    ws, store, trials = searched
    unkept = next(t for t in trials if t.weights is None)
    out = tmp_path / "out"
    code, _, err = run(capsys, "export", "-e", "tiny-kd", "-t", unkept.backend_trial_id,
                       "-o", str(out), "-w", str(ws))
    assert code == 1 and "kept no weights" in err and "Traceback" not in err
    assert "keep: top, top: 2" in err or "it is " in err
    assert not out.exists()
    code, _, err = run(capsys, "export", "-e", "tiny-kd", "-t", unkept.backend_trial_id,
                       "--spec-only", "-o", str(out), "-w", str(ws))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "card.json", "spec.yaml"]
    assert yaml.safe_load((out / "spec.yaml").read_text())["method"]["alpha"] == \
        pytest.approx(unkept.params["method.alpha"])


def test_without_an_experiment_the_latest_one_is_exported(capsys, tmp_path, searched):
    ws = searched[0]
    out = tmp_path / "latest"
    code, text, err = run(capsys, "export", "--best", "--no-onnx", "-o", str(out), "-w", str(ws))
    assert code == 0, err
    assert "of tiny-kd" in text and (out / "student.pt").is_file()
    from kd_automl.store import Store

    (tmp_path / "empty").mkdir()
    Store(f"sqlite:///{tmp_path / 'empty' / 'kd_automl.db'}").dispose()  # a store, no experiment
    code, _, err = run(capsys, "export", "--best", "-o", str(out), "-w", str(tmp_path / "empty"))
    assert code == 1 and "no experiments in" in err and "to export" in err


@pytest.mark.parametrize("args, fragment", [
    (["-e", "nope"], "no experiment named 'nope'"),
    (["-e", "tiny-kd", "-t", "99"], "has no trial '99'"),
    (["-e", "tiny-kd", "-t", "0", "--best"], "give one"),
])
def test_unknown_experiment_or_trial_is_one_error(capsys, tmp_path, searched, args, fragment):
    ws = searched[0]
    code, _, err = run(capsys, "export", *args, "-o", str(tmp_path / "o"), "-w", str(ws))
    assert code == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_an_onnx_export_that_fails_still_writes_the_weights(capsys, tmp_path, searched,
                                                            monkeypatch):
    from kd_automl.errors import KDAutoMLError
    from kd_automl.export import onnx

    def unsupported(*args, **kwargs):  # what export_onnx raises for an op ONNX lacks
        raise KDAutoMLError("ONNX export failed for this student (unsupported op aten::foo)")

    monkeypatch.setattr(onnx, "export_onnx", unsupported)
    ws = searched[0]
    out = tmp_path / "out"
    code, _, err = run(capsys, "export", "-e", "tiny-kd", "-o", str(out), "-w", str(ws))
    assert code == 0 and "warning" in err and "aten::foo" in err
    assert (out / "student.pt").is_file() and not (out / "student.onnx").exists()
    assert "aten::foo" in json.loads((out / "card.json").read_text())["onnx"]["error"]


def test_the_dashboard_serves_the_same_weights_and_spec(searched, tmp_path):
    from kd_automl.dashboard.app import _trial_panel, create_app
    from kd_automl.dashboard.data import DashboardData
    from kd_automl.dashboard.downloads import spec_url, weights_url

    ws, store, trials = searched
    read_only = Store.open_read_only(store.url)
    client = create_app(read_only).server.test_client()
    kept = next(t for t in trials if t.weights is not None)
    unkept = next(t for t in trials if t.weights is None)
    got = client.get(weights_url(kept.id))
    assert got.status_code == 200 and "attachment" in got.headers["Content-Disposition"]
    (tmp_path / "student.pt").write_bytes(got.data)
    assert sha256_of(tmp_path / "student.pt") == kept.weights.sha256
    assert client.get(weights_url(unkept.id)).status_code == 404
    spec = yaml.safe_load(client.get(spec_url(unkept.id)).data)
    assert spec["method"]["alpha"] == pytest.approx(unkept.params["method.alpha"])
    assert "search" not in spec
    panel = str(_trial_panel(DashboardData(read_only), kept.id))
    assert weights_url(kept.id) in panel and spec_url(kept.id) in panel
    assert "no weights kept" in str(_trial_panel(DashboardData(read_only), unkept.id))


def test_export_then_check_then_train_retrains_the_same_student(capsys, tmp_path, searched):
    ws, store, trials = searched
    out = tmp_path / "out"
    assert run(capsys, "export", "-e", "tiny-kd", "--best", "--no-onnx", "-o", str(out),
               "-w", str(ws))[0] == 0
    assert run(capsys, "check", str(out / "spec.yaml"))[0] == 0
    code, text, err = run(capsys, "train", str(out / "spec.yaml"), "-w", str(ws))
    assert code == 0, err
    source = next(t for t in store.trials([trials[0].experiment_id], with_epochs=True)
                  if t.backend_trial_id == json.loads((out / "card.json").read_text())["trial"])
    final = [t for t in store.trials([source.experiment_id], role="final", with_epochs=True)]
    assert len(final) == 1 and final[0].state == "complete"

    def curve(t):
        return [(e.epoch, e.value) for e in sorted(t.epochs, key=lambda e: e.epoch)
                if e.name == "val_acc"]

    assert [e for e, _ in curve(final[0])] == [1, 2, 3, 4]
    for (_, a), (_, b) in zip(curve(final[0]), curve(source), strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    assert final[0].student_test_acc == pytest.approx(source.student_test_acc)
    assert final[0].weights is not None and final[0].weights.path.is_file()


def test_the_leaderboard_marks_the_trials_that_kept_weights(capsys, searched):
    ws, store, trials = searched
    code, text, _ = run(capsys, "leaderboard", "-e", "tiny-kd", "-w", str(ws))
    assert code == 0 and "w: weights" in " ".join(text.split())  # the caption may wrap
    rows = [line for line in text.splitlines() if line.startswith("│")]
    kept = {t.backend_trial_id for t in trials if t.weights is not None}
    marked = {r.split("│")[2].strip() for r in rows if "✓" in r}
    assert marked == kept and len(kept) == 2
    code, text, _ = run(capsys, "leaderboard", "-e", "tiny-kd", "-f", "json", "-w", str(ws))
    assert {r["trial"] for r in json.loads(text) if r["weights"]} == kept
