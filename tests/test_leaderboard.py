"""Leaderboard filters, sort keys, the cross-experiment view and export (API and CLI)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from helpers.stores import fill

from kd_automl.cli import main
from kd_automl.cli.options import console
from kd_automl.store import Store
from kd_automl.store.leaderboard import COLUMNS, leaderboard, rows_to_csv


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('lb') / 'kd.db'}"
    store = Store(url)
    fill(store, 6, failed=1, pruned=2, name="kd-small")
    fill(store, 4, failed=1, name="dkd-nni", backend="nni", method="dkd", seed=1,
         student={"arch": "mlp", "width": 16, "depth": 1})
    store.dispose()
    return url


@pytest.fixture
def store(db):
    s = Store(db)
    yield s
    s.dispose()


def _run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


def test_default_ranks_completed_by_objective(store):
    rows = leaderboard(store)
    assert len(rows) == 10 and [r.rank for r in rows] == list(range(1, 11))
    assert all(r.state == "complete" for r in rows)
    objs = [r.objective for r in rows]
    assert objs == sorted(objs, reverse=True)
    assert {r.backend for r in rows} == {"optuna", "nni"}


def test_filters(store):
    assert {r.experiment for r in leaderboard(store, backend="nni")} == {"dkd-nni"}
    assert {r.method for r in leaderboard(store, method="dkd")} == {"dkd"}
    assert {r.experiment for r in leaderboard(store, student="width=16")} == {"dkd-nni"}
    assert len(leaderboard(store, teacher="MLP")) == 10  # substring, case-insensitive
    assert leaderboard(store, dataset="cifar10") == []
    assert leaderboard(store, dataset=["cifar10", "digits"], backend="optuna")
    states = [r.state for r in leaderboard(store, states=["failed", "pruned"])]
    assert sorted(states) == ["failed", "failed", "pruned", "pruned"]
    every = leaderboard(store, states=None)
    assert len(every) == 14 and every[-1].objective is None  # no value ranks last
    failed = [r for r in every if r.state == "failed"]
    assert all(r.error for r in failed)


def test_sort_keys_and_reverse(store):
    gap = [r.gap for r in leaderboard(store, sort="gap")]
    assert gap == sorted(gap)
    gain = [r.gain for r in leaderboard(store, sort="gain")]
    assert gain == sorted(gain, reverse=True)
    params = [r.student_params for r in leaderboard(store, sort="params", reverse=True)]
    assert params == sorted(params, reverse=True)
    worst_first = leaderboard(store, reverse=True)
    assert worst_first[0].objective == min(r.objective for r in worst_first)
    with pytest.raises(ValueError, match="unknown sort key"):
        leaderboard(store, sort="nope")
    assert [r.rank for r in leaderboard(store, top=3)] == [1, 2, 3]


def test_best_per_experiment(store):
    rows = leaderboard(store, best_per_experiment=True)
    assert len(rows) == 2 and [r.rank for r in rows] == [1, 2]
    for r in rows:
        mine = leaderboard(store, [r.experiment])
        assert r.trial == mine[0].trial


def test_csv_has_one_column_per_hyperparameter(store):
    rows = leaderboard(store)
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    header = list(parsed[0])
    at = COLUMNS.index("params")
    assert header[:at] == COLUMNS[:at] and header[at + 2:] == COLUMNS[at + 1:]
    assert header[at:at + 2] == ["params.method.alpha", "params.method.temperature"]
    assert len(parsed) == 10
    for row, r in zip(parsed, rows, strict=True):
        assert float(row["params.method.temperature"]) == r.params["method.temperature"]
        assert float(row["params.method.alpha"]) == r.params["method.alpha"]
    # a hyperparameter only some rows have leaves the others' cells empty
    rows[0].params = {**rows[0].params, "train.lr": 0.1}
    parsed = list(csv.DictReader(io.StringIO(rows_to_csv(rows[:2]))))
    assert [p["params.train.lr"] for p in parsed] == ["0.1", ""]


def test_cli_unknown_experiment_is_an_error(db, capsys):
    code, out, err = _run(capsys, "leaderboard", "--db", db, "-e", "nosuch")
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0 and "no experiment named 'nosuch'" in err
    assert "kd-small" in err  # the known names
    code, out, err = _run(capsys, "leaderboard", "--db", db, "-e", "kd-small", "-e", "nosuch")
    assert code == 1 and "'nosuch'" in err


def test_cli_top_k_across_experiments_shows_the_experiment(db, capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 200)
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "--top", "1")
    best = leaderboard(Store(db), top=1)[0]
    assert code == 0 and "experiment" in out and f"{best.experiment} ({best.backend})" in out
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "-e", "kd-small", "--top", "3")
    assert code == 0 and "kd-small (optuna)" not in out  # one experiment: no column


def test_cli_filters_sort_and_export(db, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(console, "width", 200)
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "--backend", "nni", "-f", "json")
    rows = json.loads(out)
    assert code == 0 and {r["experiment"] for r in rows} == {"dkd-nni"}
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "--state", "all", "--sort", "gap",
                        "--top", "5", "-f", "csv")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("rank,experiment") and len(lines) == 6
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "--best-per-experiment")
    assert code == 0 and "Best trial of each experiment" in out
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "-b", "-f", "json")
    assert sorted(r["experiment"] for r in json.loads(out)) == ["dkd-nni", "kd-small"]
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "--state", "failed")
    assert code == 0 and "failed" in out and "diverged: NaN loss" in out
    target = tmp_path / "out" / "board.csv"
    code, _, err = _run(capsys, "leaderboard", "--db", db, "--method", "kd", "--out",
                        str(target))
    assert code == 0 and "written" in err
    assert len(target.read_text().strip().splitlines()) == 7
    code, out, _ = _run(capsys, "leaderboard", "--db", db, "--method", "nosuch")
    assert code == 0 and "no trials match" in out
    code, _, err = _run(capsys, "leaderboard", "--db", db, "--sort", "bogus")
    assert code == 2 and "bogus" in err
