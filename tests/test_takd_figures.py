"""TAKD figures and their place in the report, on constructed stores."""

from __future__ import annotations

import random

import pytest
from helpers.stores import fill, result, spec

from kd_automl.analysis import (
    chain_accuracy,
    is_empty,
    student_vs_assistant_size,
    takd_figures,
    write_report,
)
from kd_automl.analysis._common import note_of
from kd_automl.spec import parse_spec
from kd_automl.store import Store

STUDENT = {"arch": "mlp", "width": 8, "depth": 1}


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'kd.db'}")
    yield s
    s.dispose()


def fill_takd(store: Store, n: int, name: str = "tiny-takd", chain_len: int = 1,
              baseline: bool = True, seed: int = 0) -> int:
    """A TAKD experiment with ``n`` completed trials over three assistant widths."""
    rng = random.Random(seed)
    d = spec(name=name, method={"name": "takd", "temperature": 4.0, "alpha": 0.9},
             assistant={"arch": "mlp", "width": 16, "depth": 1}, student=STUDENT)
    exp = store.experiment(parse_spec(d), backend="optuna", name=name)
    if baseline:
        tid = store.start_trial(exp, "baseline", {}, role="baseline", method="ce")
        store.finish_trial(tid, result(0.85))
    for i in range(n):
        width = rng.choice([12, 16, 24])
        params = {"assistant.width": width, "method.temperature": rng.uniform(1, 20),
                  "method.alpha": rng.uniform(0, 1)}
        chain = [{"model": {"arch": "mlp", "width": 32, "depth": 1}, "test_acc": 0.96,
                  "val_acc": 0.95, "params": 2410, "cache": "reused"}][:chain_len - 1]
        chain.append({"model": {"arch": "mlp", "width": width, "depth": 1},
                      "test_acc": 0.9 + width / 1000, "val_acc": 0.9, "params": 74 * width + 10,
                      "cache": "trained" if i < 3 else "reused"})
        tid = store.start_trial(exp, i, params, method="takd")
        store.finish_trial(tid, result(0.88 + width / 2000 + rng.gauss(0, 0.003),
                                       extra={"assistants": chain,
                                              "assistant_acc": chain[-1]["test_acc"]}))
    return exp


def test_empty_states(store):
    for fn in (student_vs_assistant_size, chain_accuracy):
        fig = fn([])
        assert is_empty(fig) and "TAKD" in fig.layout.annotations[0].text
    assert takd_figures([]) == []
    fill(store, 3)  # a kd experiment only: no TAKD figures
    assert takd_figures(store.trials()) == []
    fill_takd(store, 0, name="empty-takd")
    store.start_trial(store.experiments(["empty-takd"])[0].id, 0, {}, method="takd")  # running
    figs = dict(takd_figures(store.trials()))
    assert set(figs) == {"takd_size", "takd_chain"} and all(map(is_empty, figs.values()))


def test_size_figure_has_trials_and_both_baselines(store):
    fill_takd(store, 6)
    fill(store, 4, name="tiny-kd", student=STUDENT)  # the no-assistant KD on the same pair
    trials = store.trials()
    fig = student_vs_assistant_size(trials)
    assert not is_empty(fig)
    names = [tr.name for tr in fig.data]
    assert names[0] == "TAKD trial" and len(fig.data[0].x) == 6
    assert sorted(fig.data[0].x) == sorted(
        t.extra["assistants"][-1]["params"] for t in trials if t.method == "takd")
    assert any(n.startswith("KD, no assistant (best of 4") for n in names)
    assert "student alone" in names
    without_kd = student_vs_assistant_size([t for t in trials if t.experiment.method != "kd"])
    assert "no kd experiment" in note_of(without_kd)
    assert not any(tr.name.startswith("KD") for tr in without_kd.data)


def test_chain_figure_two_assistants_and_sampling(store):
    fill_takd(store, 5, chain_len=2)
    fig = chain_accuracy(store.trials())
    assert not is_empty(fig)
    per_trial = [tr for tr in fig.data if tr.showlegend is False]
    assert len(per_trial) == 5
    assert list(per_trial[0].x) == ["teacher", "assistant 1", "assistant 2", "student"]
    assert per_trial[0].y[1] == pytest.approx(96.0)  # accuracies in %
    fill_takd(store, 30, name="many", seed=1)
    trials = store.trials()
    assert "showing 10 of" in note_of(chain_accuracy(trials, max_lines=10))
    assert "showing 10 of" in note_of(student_vs_assistant_size(trials, max_points=10))


def test_report_includes_takd_figures_only_for_takd(store, tmp_path):
    fill(store, 3, name="tiny-kd", student=STUDENT)
    html = write_report(store, tmp_path / "kd.html", ["tiny-kd"]).read_text()
    assert 'id="fig-takd_size"' not in html
    fill_takd(store, 4)
    html = write_report(store, tmp_path / "takd.html", ["tiny-takd"]).read_text()
    assert 'id="fig-takd_size"' in html and 'id="fig-takd_chain"' in html
    assert "KD, no assistant" in html  # looked up from the kd experiment outside the selection
