"""The store and Optuna on a real PostgreSQL server (``.ci/run`` starts one)."""

import os

import optuna
import pytest

from kd_automl.cli import main
from kd_automl.optuna import run_study
from kd_automl.spec import parse_spec
from kd_automl.store import Store, leaderboard

PG_URL = os.environ.get("KD_AUTOML_TEST_PG")

pytestmark = pytest.mark.skipif(
    not PG_URL and not os.environ.get("CI"),
    reason="set KD_AUTOML_TEST_PG to a PostgreSQL URL (bash .ci/postgres.sh prints one)")


def test_a_study_runs_against_postgresql_and_reads_back(workspace, tiny_spec_dict, capsys):
    assert PG_URL, "CI must run this test: .ci/run exports KD_AUTOML_TEST_PG"
    tiny_spec_dict["name"] = "pg-kd"
    summary = run_study(parse_spec(tiny_spec_dict), n_trials=3, db=PG_URL, fresh=True)
    assert summary.db == PG_URL and summary.storage == PG_URL
    store = Store(PG_URL)
    rows = leaderboard(store, [summary.experiment])
    assert len(rows) == 3 and all(r.gain is not None for r in rows)
    trials = [t for t in store.trials(with_epochs=True)
              if t.experiment.name == summary.experiment and t.role == "search"]
    assert all({m.epoch for m in t.epochs} == {1, 2, 3} for t in trials)
    study = optuna.load_study(study_name=summary.study_name, storage=PG_URL)
    assert len(study.trials) == 3
    # the CLI reads the same database
    with pytest.raises(SystemExit) as exit_info:
        main(["leaderboard", "--db", PG_URL, "-e", summary.experiment, "--format", "json"])
    assert (exit_info.value.code or 0) == 0
    assert summary.experiment in capsys.readouterr().out
