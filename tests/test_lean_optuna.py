"""lean_optuna.should_prune / tell give Optuna's own answers, with fewer statements.

Each scenario runs twice on twin studies (same name, same data, own database): one asks
``trial.should_prune()``, the other :func:`should_prune`; every decision must match, for
every pruner kd-automl offers, on SQLite and (with KD_AUTOML_TEST_PG) PostgreSQL.
"""

from __future__ import annotations

import math
import os
import random
import warnings

import optuna
import pytest
from conftest import fresh_pg_url
from sqlalchemy import event

from kd_automl.orchestrate.lean_optuna import should_prune, tell
from kd_automl.store.optuna_tables import storage_engine

PRUNERS = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    "median_interval": lambda: optuna.pruners.MedianPruner(n_warmup_steps=2, interval_steps=3),
    "percentile": lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=0,
                                                          n_min_trials=3),
    "percentile_90": lambda: optuna.pruners.PercentilePruner(90.0, n_warmup_steps=0),
    "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1),
    "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=8),
    "wilcoxon": lambda: optuna.pruners.WilcoxonPruner(p_threshold=0.2, n_startup_steps=1),
}
STEPS = 6
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _value(rng: random.Random, step: int, quality: float) -> float:
    r = rng.random()
    if r < 0.03:
        return math.nan
    if r < 0.05:
        return math.inf if rng.random() < 0.5 else -math.inf
    return quality + 0.02 * step + rng.gauss(0, 0.05)


def _scenario(storage: optuna.storages.BaseStorage, pruner: str, direction: str, lean: bool
              ) -> list[tuple[int, int, bool]]:
    """Completed, pruned, running and failed trials (with gaps, NaN, inf), then probe trials
    that report every step and ask the pruner at each: their decisions."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", UserWarning)  # Wilcoxon on NaN, reporting twice
    rng = random.Random(7)
    study = optuna.create_study(study_name=f"{pruner}-{direction}", storage=storage,
                                pruner=PRUNERS[pruner](), direction=direction)
    decisions = []
    for n in range(12):
        trial = study.ask()
        quality = rng.random()
        steps = range(rng.randint(1, STEPS) if n % 4 == 3 else STEPS)
        for step in steps:
            if rng.random() > 0.1:  # some steps not reported
                trial.report(_value(rng, step, quality), step)
        kind = n % 5
        if kind == 4:
            continue  # left running (another worker's trial)
        if kind == 3:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif n == 6:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, quality)
        if n >= 3 and n % 2:  # probes: the pruner sees 0, then more, completed trials
            probe = study.ask()
            quality = rng.random()
            for step in range(STEPS):
                probe.report(_value(rng, step, quality), step)
                decide = should_prune if lean else optuna.Trial.should_prune
                decisions.append((n, step, bool(decide(probe))))
            (tell if lean else optuna.Study.tell)(study, probe, quality)
    return decisions


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """(real, lean) storage pairs: SQLite, and PostgreSQL with KD_AUTOML_TEST_PG; each
    scenario is a study of its own name in both."""
    tmp = tmp_path_factory.mktemp("twins")
    urls = [(f"sqlite:///{tmp}/real.db", f"sqlite:///{tmp}/lean.db")]
    pg_url = os.environ.get("KD_AUTOML_TEST_PG")
    if pg_url:
        urls.append((fresh_pg_url(pg_url, "kd_lean_real"), fresh_pg_url(pg_url, "kd_lean_lean")))
    pairs = [tuple(optuna.storages.RDBStorage(u) for u in pair) for pair in urls]
    yield pairs
    for pair in pairs:
        for storage in pair:
            storage.engine.dispose()


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("pruner", list(PRUNERS))
def test_same_decisions_as_should_prune(twins, pruner, direction):
    for real_storage, lean_storage in twins:
        real = _scenario(real_storage, pruner, direction, lean=False)
        lean = _scenario(lean_storage, pruner, direction, lean=True)
        assert lean == real, real_storage.engine.url
        assert len(real) >= 4 * STEPS
        if pruner in ("median", "percentile", "wilcoxon"):  # both answers were checked
            assert any(d for *_, d in real) and not all(d for *_, d in real)


def test_percentile_pruner_asks_one_query(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/q.db", direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=0))
    for q in (0.2, 0.8):
        t = study.ask()
        t.report(q, 0)
        study.tell(t, q)
    running = study.ask()
    running.report(0.5, 0)
    probe = study.ask()
    probe.report(0.3, 0)
    statements = []

    def count(conn, cursor, statement, *_):
        statements.append(statement)

    engine = storage_engine(study)
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert bool(should_prune(probe)) is True
        assert len(statements) == 1
        statements.clear()
        assert bool(probe.should_prune()) is True
        assert len(statements) > 1  # Optuna's own path reads every trial
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_tell_stores_what_study_tell_stores(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/t.db")
    a, b, c = study.ask(), study.ask(), study.ask()
    a.report(1.0, 0)
    tell(study, a, 0.5)
    tell(study, b, state=optuna.trial.TrialState.PRUNED)
    tell(study, c, state=optuna.trial.TrialState.FAIL)
    got = study.get_trials()
    assert [t.state.name for t in got] == ["COMPLETE", "PRUNED", "FAIL"]
    assert got[0].value == 0.5 and got[1].value is None
    with pytest.raises(ValueError, match="Cannot tell a COMPLETE trial"):
        tell(study, a, 0.7)
