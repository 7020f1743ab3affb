"""kd-automl train: one configuration trained to the end over seeds (role final), beside the
search that found it; --epochs scales the schedule; a rerun skips what is stored."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import TINY

from kd_automl.cli import main
from kd_automl.cli.options import console
from kd_automl.errors import KDAutoMLError
from kd_automl.optuna import run_study
from kd_automl.orchestrate.final import config_hash, plan, scale_epochs, seeded
from kd_automl.spec import apply_params, parse_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

SPEC = {**TINY, "train": {**TINY["train"], "epochs": 2}}


def _run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


def _spec(**train):
    data = copy.deepcopy(TINY)
    data.pop("search")
    data["train"].update(train)
    return data


# -- the plan, without training ------------------------------------------------------------

def test_epochs_scale_milestones_inside_the_run():
    spec = parse_spec(_spec(epochs=20, schedule="step", milestones=[10, 15]))
    longer, notes = scale_epochs(spec, 40)
    assert longer.train.epochs == 40 and longer.train.milestones == [20, 30]
    assert any("milestones" in n for n in notes)
    # rounded half up, kept inside 1..N-1 (a decay at epoch N would never be seen)
    assert scale_epochs(spec, 3)[0].train.milestones == [2, 2]  # 1.5 -> 2, 2.25 -> 2
    assert scale_epochs(parse_spec(_spec(epochs=20, schedule="step", milestones=[1, 19])),
                        10)[0].train.milestones == [1, 9]
    assert scale_epochs(spec, 1)[0].train.milestones == []
    same, notes = scale_epochs(spec, 20)
    assert same is spec and notes == []
    with pytest.raises(KDAutoMLError, match="--epochs"):
        scale_epochs(spec, 0)


def test_epochs_scale_the_methods_epoch_settings_and_keep_the_teacher():
    data = _spec(epochs=20)
    data["method"] = {"name": "dkd"}  # warmup: 20 epochs by default
    del data["teacher_train"]
    spec = parse_spec(data)
    longer, notes = scale_epochs(spec, 40)
    assert longer.method.options["warmup"] == 39  # 40, kept inside 1..39
    assert scale_epochs(spec, 10)[0].method.options["warmup"] == 9
    # no teacher_train: the teacher keeps the search's budget (and its cache)
    assert longer.teacher_budget.epochs == 20 and longer.train.epochs == 40
    assert any("teacher_train" in n for n in notes)
    off = parse_spec({**data, "method": {"name": "dkd", "warmup": 0}})
    assert scale_epochs(off, 40)[0].method.options["warmup"] == 0  # off stays off
    ctkd = parse_spec({**data, "method": {"name": "ctkd", "lambda_epochs": 5}})
    assert scale_epochs(ctkd, 40)[0].method.options["lambda_epochs"] == 10
    kd = parse_spec(_spec(epochs=3))  # kd has no epoch-valued setting; a teacher_train
    assert scale_epochs(kd, 6)[0].teacher_train == kd.teacher_train


def test_seeds_start_at_the_spec_and_ids_name_seed_and_epochs():
    spec = parse_spec(_spec(epochs=3))
    jobs = plan(spec, 3)
    assert jobs[0].spec is spec  # the first run is the spec as given
    assert [(j.spec.seed, j.spec.train.seed) for j in jobs] == [(0, None), (1, None), (2, None)]
    assert [j.backend_trial_id for j in jobs] == [
        f"final-{config_hash(spec)[:8]}-s{s}-e3" for s in (0, 1, 2)]
    assert seeded(parse_spec({**_spec(), "train": {**_spec()["train"], "seed": 7}}), 2) \
        .train.seed == 9  # an explicit init seed moves with it
    longer = scale_epochs(spec, 6)[0]
    assert plan(longer, 1)[0].backend_trial_id.endswith("-s0-e6")
    assert config_hash(longer) != config_hash(spec)
    renamed = parse_spec({**_spec(epochs=3), "name": "other"})
    assert config_hash(renamed) == config_hash(spec)  # the name trains nothing
    saved = parse_spec({**_spec(epochs=3), "train": {**_spec(epochs=3)["train"],
                                                      "checkpoint_every": 1}})
    assert config_hash(saved) == config_hash(spec)  # nor how often it is checkpointed
    with pytest.raises(KDAutoMLError, match="--seeds"):
        plan(spec, 0)


@pytest.mark.parametrize("mutate, fragment", [
    (None, "spec file not found"),
    (lambda d: d["train"].update(lr=-1), "train.lr"),
    (lambda d: d["student"].update(arch="nosuchnet"), "unknown model 'nosuchnet'"),
])
def test_bad_input_is_one_error(capsys, tmp_path, mutate, fragment):
    path = tmp_path / "spec.yaml"
    if mutate is not None:
        data = _spec()
        mutate(data)
        path.write_text(yaml.safe_dump(data))
    code, out, err = _run(capsys, "train", str(path), "--workspace", str(tmp_path / "ws"))
    assert code == 1 and fragment in err and "Traceback" not in out + err
    assert not (tmp_path / "ws").exists() or not list((tmp_path / "ws").rglob("*.pt"))


# -- training -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 2-trial Optuna search of the tiny spec in a fresh workspace, and the spec that
    ``export`` writes for its best trial (parameters written in, no search)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("train")
    ws = root / "ws"
    spec = parse_spec(SPEC)
    run_study(spec, 2, workspace=ws, threads=1)
    store = Store(Workspace.resolve(ws).db_url)
    exp = store.experiments(["tiny-kd"])[0]
    best = max(store.trials([exp.id], role="search", states=["complete"]),
               key=lambda t: t.objective)
    exported = apply_params(spec, best.params).to_dict()
    exported.pop("search")
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(exported))
    store.dispose()
    yield ws, path, best
    torch.set_num_threads(threads)


def _curve(trial, name="val_acc"):
    return [(e.epoch, e.value) for e in sorted(trial.epochs, key=lambda e: e.epoch)
            if e.name == name]


def test_train_the_exported_spec_over_seeds(searched, capsys, monkeypatch):
    ws, path, best = searched
    monkeypatch.setattr(console, "width", 200)
    code, out, err = _run(capsys, "train", str(path), "--seeds", "2", "--threads", "1",
                          "--workspace", str(ws))
    assert code == 0, err
    assert f"into experiment tiny-kd (optuna), retraining search trial #{best.backend_trial_id}" \
        in out
    assert "seeds 0, 1 at 2 epoch(s); 2 run(s) trained, 0 already stored, 0 failed" in out
    assert "Final training" in out and "2 seeds" in out and "±" in out and "student.pt" in out

    store = Store(Workspace.resolve(ws).db_url)
    exp = store.experiments(["tiny-kd"])[0]
    runs = store.trials([exp.id], role="final", with_epochs=True)
    assert len(runs) == 2 and all(r.state == "complete" for r in runs)
    assert [r.extra["final"]["seed"] for r in runs] == [0, 1]
    for r in runs:  # each run keeps its weights, recorded with their checksum
        info = r.extra["final"]
        assert info["epochs"] == 2 and info["experiment"] == "tiny-kd"
        assert info["source_trial"] == best.backend_trial_id and info["source_id"] == best.id
        assert info["spec"]["seed"] == info["seed"] and not info["spec"]["search"]
        assert r.backend_trial_id == f"final-{info['config'][:8]}-s{info['seed']}-e2"
        assert r.weights is not None and r.weights.path.is_file() and r.weights.size > 0
        assert r.params == best.params  # shown with the trial's hyperparameters

    # the exported spec on the same seed retrains the search trial's student: same curve
    (search_trial,) = store.trials_by_id([best.id], with_epochs=True)
    seed0 = next(r for r in runs if r.extra["final"]["seed"] == 0)
    for name in ("val_acc", "train_loss"):
        mine, theirs = _curve(seed0, name), _curve(search_trial, name)
        assert [e for e, _ in mine] == [e for e, _ in theirs] == [1, 2]
        assert [v for _, v in mine] == pytest.approx([v for _, v in theirs], abs=1e-6)
    assert seed0.student_test_acc == pytest.approx(search_trial.student_test_acc, abs=1e-9)
    seed1 = next(r for r in runs if r.extra["final"]["seed"] == 1)
    assert _curve(seed1, "train_loss") != _curve(seed0, "train_loss")  # another seed

    # a rerun skips what is stored complete; --force trains again, a new --epochs is new
    code, out, _ = _run(capsys, "train", str(path), "--seeds", "2", "--workspace", str(ws))
    assert code == 0 and "0 run(s) trained, 2 already stored" in out
    code, out, _ = _run(capsys, "train", str(path), "--force", "--threads", "1",
                        "--workspace", str(ws))
    assert code == 0 and "1 run(s) trained, 0 already stored" in out
    code, out, err = _run(capsys, "train", str(path), "--epochs", "3", "--threads", "1",
                          "--workspace", str(ws))
    assert code == 0 and "1 run(s) trained" in out and "train.epochs: 2 -> 3" in err
    runs = store.trials([exp.id], role="final")
    assert len(runs) == 3 and sorted(r.backend_trial_id[-5:] for r in runs) == \
        ["s0-e2", "s0-e3", "s1-e2"]

    # the leaderboard shows them after the search's table, the report too
    code, out, _ = _run(capsys, "leaderboard", "--workspace", str(ws))
    assert code == 0 and "Leaderboard" in out and "Final training" in out
    assert out.index("Leaderboard") < out.index("Final training")
    assert f"#{best.backend_trial_id}" in out and "2 seeds" in out
    report = ws / "final.html"
    code, _, err = _run(capsys, "report", "--workspace", str(ws), "--out", str(report))
    assert code == 0, err
    section = report.read_text().split('<h2 id="final">', 1)[1].split("<h2>", 1)[0]
    assert section.count("<tr>") == 1 + 2  # the header, then e2 over 2 seeds and e3
    assert f"#{best.backend_trial_id}" in section and "student.pt" in section
    store.dispose()


def test_a_spec_without_its_search_gets_its_own_experiment(searched, capsys):
    ws, _, _ = searched
    data = {**copy.deepcopy(SPEC), "name": "tiny-final"}  # still has its search section
    path = ws.parent / "fresh.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, err = _run(capsys, "train", str(path), "--threads", "1", "--workspace", str(ws))
    assert code == 0, err
    assert "training its fixed values" in err
    assert "into new experiment tiny-final (train)" in out
    code, out, _ = _run(capsys, "leaderboard", "-e", "tiny-final", "--workspace", str(ws))
    assert code == 0 and "no completed search trials yet" in out and "Final training" in out
    code, _, err = _run(capsys, "train", str(path), "-e", "nosuch", "--workspace", str(ws))
    assert code == 1 and "no experiment named 'nosuch'" in err


def test_the_progress_bar_follows_epochs():
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from kd_automl.cli.progress import runs_progress
    from kd_automl.results import TrialResult

    out = io.StringIO()
    term = Console(file=out, force_terminal=True, width=120)
    job = SimpleNamespace(seed=3, epochs=4)
    with runs_progress("tiny-kd", term) as progress:
        progress.start(job)
        progress.epoch(job, 2, {"val_acc": 0.5})
        (task,) = progress.progress.tasks
        assert (task.completed, task.total, task.fields["info"]) == (2, 4, "val 50.00%")
        progress.done(job, TrialResult(status="complete", student_test_acc=0.75))
        assert "test 75.00%" in task.fields["info"]
    assert "seed 3" in out.getvalue()
    plain = Console(file=io.StringIO(), force_terminal=False)
    with runs_progress("tiny-kd", plain) as lines:  # no terminal: a line per start and end
        assert not hasattr(lines, "progress")
