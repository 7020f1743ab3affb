"""Store round trips and the leaderboard query, on constructed trials."""

import sqlite3

import pytest
from sqlalchemy import inspect

from kd_automl.engine import TrialResult
from kd_automl.errors import KDAutoMLError
from kd_automl.spec import parse_spec
from kd_automl.store import Store, leaderboard


@pytest.fixture
def store(tmp_path):
    return Store(f"sqlite:///{tmp_path / 'kd.db'}")


def _result(acc, status="complete", curve=None):
    return TrialResult(status=status, student_val_acc=acc, student_test_acc=acc - 0.01,
                       teacher_test_acc=0.99, gap=0.99 - (acc - 0.01), curve=curve or [])


def test_tables_are_prefixed_and_versioned_beside_optuna(store):
    names = set(inspect(store.engine).get_table_names())
    assert {"kd_experiments", "kd_trials", "kd_epoch_metrics", "kd_alembic_version"} <= names
    assert "alembic_version" not in names  # left to Optuna
    with sqlite3.connect(store.engine.url.database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_round_trip_and_leaderboard_ranking(store, tiny_spec_dict):
    spec = parse_spec(tiny_spec_dict)
    exp = store.experiment(spec, "optuna")
    assert store.experiment(spec, "optuna") == exp  # get-or-create
    base = store.start_trial(exp, "baseline", {}, role="baseline", method="ce")
    store.finish_trial(base, _result(0.90))
    accs = {"0": 0.93, "1": 0.97, "2": 0.95}
    for number, acc in accs.items():
        tid = store.start_trial(exp, number, {"method.alpha": acc}, method="kd")
        store.finish_trial(tid, _result(acc, curve=[{"epoch": 1, "val_acc": acc / 2,
                                                     "train_kd": 0.5},
                                                    {"epoch": 2, "val_acc": acc,
                                                     "train_kd": float("nan")}]))
    failed = store.start_trial(exp, "3", {"method.alpha": 0.1})
    store.finish_trial(failed, TrialResult(status="failed", error="diverged: NaN"))
    rows = leaderboard(store)
    assert [r.trial for r in rows] == ["1", "2", "0"]
    assert rows[0].gain == pytest.approx((0.97 - 0.01) - (0.90 - 0.01))
    assert rows[0].params == {"method.alpha": 0.97}
    assert [r.trial for r in leaderboard(store, top=1)] == ["1"]
    trials = {t.backend_trial_id: t for t in store.trials(with_epochs=True)}
    assert trials["3"].state == "failed" and trials["3"].error == "diverged: NaN"
    curve = {(m.epoch, m.name): m.value for m in trials["1"].epochs}
    assert curve[(2, "val_acc")] == 0.97 and curve[(1, "train_kd")] == 0.5
    assert curve[(2, "train_kd")] is None  # NaN stored as NULL, not lost as an error


def test_minimize_direction_ranks_low_first(store, tiny_spec_dict):
    tiny_spec_dict["objective"] = {"metric": "val_acc", "direction": "minimize"}
    exp = store.experiment(parse_spec(tiny_spec_dict), "optuna")
    for n, acc in enumerate([0.5, 0.3, 0.4]):
        store.finish_trial(store.start_trial(exp, n, {}), _result(acc))
    assert [r.trial for r in leaderboard(store)] == ["1", "2", "0"]


def test_unreachable_databases_are_clear_errors(tmp_path):
    with pytest.raises(KDAutoMLError, match="does not exist"):
        Store(f"sqlite:///{tmp_path / 'missing' / 'kd.db'}")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(KDAutoMLError, match="cannot"):
        Store(f"sqlite:///{junk}")
    with pytest.raises(KDAutoMLError, match="not a database URL"):
        Store("no-scheme-here")
    with pytest.raises(KDAutoMLError, match="cannot"):
        Store("postgresql://nobody@127.0.0.1:1/none")


def test_an_old_database_is_migrated_in_place(tmp_path, tiny_spec_dict):
    """A database made by the first schema gains new columns and keeps its trials."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    import kd_automl.store.db as db

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(db.Path(db.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql(
            "INSERT INTO kd_experiments (name, backend, spec, dataset, student, method, "
            "objective_metric, direction, created_at) VALUES ('old', 'optuna', '{}', 'digits', "
            "'mlp', 'kd', 'val_acc', 'maximize', '2026-01-01')")
    cols = {c["name"] for c in inspect(engine).get_columns("kd_trials")}
    assert "student_latency_ms" not in cols
    store = Store(url)
    cols = {c["name"] for c in inspect(store.engine).get_columns("kd_trials")}
    assert "student_latency_ms" in cols
    assert [e.name for e in store.experiments()] == ["old"]


def test_read_only_store_serves_many_threads_at_once(store, tiny_spec_dict):
    """The dashboard's server answers each request on a new thread (this once segfaulted)."""
    from concurrent.futures import ThreadPoolExecutor

    exp = store.experiment(parse_spec(tiny_spec_dict), "optuna")
    for n in range(5):
        store.finish_trial(store.start_trial(exp, n, {}), _result(0.5 + n / 100))
    reader = Store.open_read_only(store.url)

    def read(_):
        return len(reader.trials(with_epochs=True)) + len(reader.experiments())

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(read, range(400))) == {6}


def test_the_store_hands_out_frozen_records(store, tiny_spec_dict):
    import dataclasses

    from kd_automl.store import ExperimentRecord, TrialRecord

    spec = parse_spec(tiny_spec_dict)
    exp = store.experiment(spec, "optuna")
    base = store.start_trial(exp, "baseline", {}, role="baseline", method="ce")
    store.finish_trial(base, _result(0.90))
    chosen = {"method": {"_name": "dkd", "alpha": 1.0}, "train.lr": 0.05}
    tid = store.start_trial(exp, "0", chosen)
    store.finish_trial(tid, _result(0.95, curve=[{"epoch": 1, "val_acc": 0.9}]))
    (e,) = store.experiments()
    assert isinstance(e, ExperimentRecord) and e.baseline_test_acc == pytest.approx(0.89)
    t = store.trials(role="search")[0]
    assert isinstance(t, TrialRecord) and t.experiment == e
    assert t.epochs is None  # not loaded: absent, not empty
    assert store.trials_by_id([tid], with_epochs=True)[0].epochs[0].value == 0.9
    assert t.objective == 0.95  # the spec's metric, val_acc
    assert t.method == "dkd" and store.trials(role="baseline")[0].method == "ce"
    assert t.flat_params == {"method": "dkd", "method.alpha": 1.0, "train.lr": 0.05}
    assert t.gain == pytest.approx(0.94 - 0.89)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.state = "failed"


def _store_urls(tmp_path):
    import os

    from conftest import fresh_pg_url

    yield f"sqlite:///{tmp_path / 'rerun.db'}"
    if os.environ.get("KD_AUTOML_TEST_PG"):
        yield fresh_pg_url(os.environ["KD_AUTOML_TEST_PG"], "kd_store_rerun")


def test_a_rerun_trial_resets_its_row_and_replaces_its_curve(tmp_path, tiny_spec_dict):
    """start_trial is one upsert and finish_trial one UPDATE: a re-run (same backend id) keeps
    its store id, gets the new role/params/state/method/extra, keeps the old result until
    it finishes, and its curve is replaced; a missing id is a clear error."""
    for url in _store_urls(tmp_path):
        store = Store(url)
        exp = store.experiment(parse_spec(tiny_spec_dict), "optuna")
        first = store.start_trial(exp, 5, {"method.alpha": 0.1}, method="kd")
        curve = [{"epoch": e, "val_acc": 0.1 * e, "train_loss": 1.0 / e} for e in (1, 2, 3)]
        store.finish_trial(first, _result(0.8, curve=curve))
        other = store.start_trial(exp, 6, {})
        again = store.start_trial(exp, "5", {"method.alpha": 0.2}, role="confirm", method="ce")
        assert again == first and other != first
        (row,) = store.trials_by_id([first], with_epochs=True)
        assert (row.state, row.role, row.params, row.method) == (
            "running", "confirm", {"method.alpha": 0.2}, "ce")
        assert row.student_val_acc == 0.8 and len(row.epochs) == 6  # until it finishes
        store.finish_trial(first, _result(0.6, "pruned", curve=[{"epoch": 1, "val_acc": 0.3}]))
        (row,) = store.trials_by_id([first], with_epochs=True)
        assert (row.state, row.student_val_acc, row.finished_at is not None) == (
            "pruned", 0.6, True)
        assert [(m.epoch, m.name, m.value) for m in row.epochs] == [(1, "val_acc", 0.3)]
        with pytest.raises(KDAutoMLError, match="no trial with store id"):
            store.finish_trial(10_000, _result(0.5))
        store.dispose()
