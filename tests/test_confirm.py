"""kd-automl confirm: top trials and controls re-trained over seeds, stored, summarised."""

from __future__ import annotations

import json
import math

import pytest
from conftest import TINY
from scipy import stats

from kd_automl.cli import main
from kd_automl.cli.options import console
from kd_automl.engine import run_trial
from kd_automl.optuna import run_study
from kd_automl.orchestrate.confirm import plan, top_trials
from kd_automl.orchestrate.recording import record_trial, run_sampled
from kd_automl.spec import parse_spec
from kd_automl.store import Store
from kd_automl.store.confirmed import paired
from kd_automl.workspace import Workspace

SPEC = {**TINY, "train": {**TINY["train"], "epochs": 2}}


def _run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 3-trial Optuna search of the tiny spec (and its baseline) in a fresh workspace."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ws = tmp_path_factory.mktemp("confirm") / "ws"
    run_study(parse_spec(SPEC), 3, workspace=ws, threads=1)
    yield ws
    torch.set_num_threads(threads)


def test_paired_difference_by_hand():
    mine, control = {1: 0.80, 2: 0.84, 3: 0.85}, {1: 0.79, 2: 0.82, 3: 0.82, 4: 0.5}
    p = paired(mine, control)  # seed 4 has no pair: left out
    assert p.n == 3 and p.mean == pytest.approx(0.02) and p.std == pytest.approx(0.01)
    half = 4.302653 * 0.01 / math.sqrt(3)  # t(0.975, 2) * std / sqrt(n)
    assert (p.ci_low, p.ci_high) == (pytest.approx(0.02 - half), pytest.approx(0.02 + half))
    assert p.p == pytest.approx(stats.ttest_rel([.80, .84, .85], [.79, .82, .82]).pvalue)
    assert paired({1: 0.8}, {2: 0.7}) is None
    one = paired({1: 0.8}, {1: 0.7})
    assert one.n == 1 and one.std is None and one.p is None


def test_confirm_stores_rows_and_the_leaderboard_shows_them(searched, capsys, one_thread,
                                                             monkeypatch):
    monkeypatch.setattr(console, "width", 220)
    code, out, err = _run(capsys, "confirm", "-e", "tiny-kd", "--top", "2", "--seeds", "3",
                          "--fuse", "4", "--workspace", str(searched))
    assert code == 0, err
    assert "12 run(s) trained, 0 already stored, 0 failed" in out
    assert "Confirmed over seeds" in out and "student alone" in out and "plain KD" in out

    store = Store(Workspace.resolve(searched).db_url)
    exp = store.experiments(["tiny-kd"])[0]
    tops = top_trials(store, exp, 2)
    rows = store.trials([exp.id], role="confirm")
    assert len(rows) == 12 and all(r.state == "complete" for r in rows)
    info = [r.extra["confirm"] for r in rows]
    assert {i["seed"] for i in info} == {1, 2, 3}  # the seeds after the spec's seed 0
    assert {i["source"] for i in info} == {t.backend_trial_id for t in tops} | {"alone", "kd"}
    assert {i["source_id"] for i in info if i["control"] is None} == {t.id for t in tops}
    for r in rows:  # a top trial keeps its hyperparameters; the controls run their method
        i = r.extra["confirm"]
        if i["control"] is None:
            assert r.params == next(t.params for t in tops if t.id == i["source_id"])
        else:
            assert r.method == {"alone": "ce", "kd": "kd"}[i["control"]]
    # the kd runs of one seed train as one fused group; the student alone trains alone
    assert all(r.extra["fused"]["capacity"] == 3 for r in rows if r.method == "kd")
    assert not any("fused" in r.extra for r in rows if r.method == "ce")

    # a fused run is exactly its run alone (same seed: same split, teacher, order, init)
    job = next(j for j in plan(parse_spec(exp.spec), tops[:1], [2]) if j.control is None)
    alone = run_trial(job.spec, Workspace.resolve(searched))
    stored = next(r for r in rows if r.backend_trial_id == job.backend_trial_id)
    assert alone.student_test_acc == pytest.approx(stored.student_test_acc, abs=1e-9)

    # the leaderboard: the ranked table, then mean ± std and the paired differences
    code, out, _ = _run(capsys, "leaderboard", "--workspace", str(searched))
    assert code == 0 and "Leaderboard" in out and "Confirmed over seeds" in out
    assert "±" in out and "Δ alone" in out and "Δ KD" in out
    code, out, _ = _run(capsys, "leaderboard", "--confirmed", "-f", "json",
                        "--workspace", str(searched))
    confirmed = json.loads(out)
    assert [r["label"] for r in confirmed][-2:] == ["student alone", "plain KD (defaults)"]
    top = confirmed[:2]
    assert top[0]["mean"] >= top[1]["mean"]  # best confirmed mean first
    for r in top:
        accs = sorted(x.student_test_acc for x in rows
                      if x.extra["confirm"]["source"] == r["source"])
        assert r["seeds"] == [1, 2, 3] and r["mean"] == pytest.approx(sum(accs) / 3)
        assert r["std"] == pytest.approx(stats.tstd(accs))
        assert r["vs_alone"]["n"] == 3 and r["vs_kd"]["n"] == 3
        assert r["vs_alone"]["std"] is not None
    assert confirmed[-2]["vs_alone"] is None and confirmed[-1]["vs_kd"] is None

    # the report shows them too: one row per source, the paired differences with p
    report = searched / "confirmed.html"
    code, _, err = _run(capsys, "report", "--workspace", str(searched), "--out", str(report))
    assert code == 0, err
    section = report.read_text().split('<h2 id="confirmed">', 1)[1].split("<h2>", 1)[0]
    assert section.count("<tr>") == 1 + len(confirmed)  # the header and one row per source
    assert "student alone" in section and "plain KD (defaults)" in section and "p=" in section
    assert f"{100 * top[0]['mean']:.2f} ± {100 * top[0]['std']:.2f}" in section

    # a rerun resumes: nothing stored complete is trained again
    code, out, _ = _run(capsys, "confirm", "-e", "tiny-kd", "--top", "2", "--seeds", "3",
                        "--workspace", str(searched))
    assert code == 0 and "0 run(s) trained, 12 already stored" in out
    store.dispose()


def test_confirm_an_nni_experiment_one_by_one(searched, capsys, one_thread):
    """An NNI experiment's trials are in the store the same way (written by NNI's trial
    entry through record_trial); confirm reads only the store."""
    ws = Workspace.resolve(searched)
    store = Store(ws.db_url)
    spec = parse_spec({**SPEC, "name": "tiny-kd-nni"})
    exp_id = store.experiment(spec, "nni", name="tiny-kd-nni-AbC123", study_name="AbC123")
    params = {"method.temperature": 2.5, "method.alpha": 0.5}
    record_trial(store, exp_id, "7", params, lambda: run_sampled(spec, params, ws))
    code, out, err = _run(capsys, "confirm", "-e", "tiny-kd-nni-AbC123", "--top", "1",
                          "--seeds", "2", "--workspace", str(searched))
    assert code == 0, err
    assert "trials #7 and controls on seeds 1, 2; 6 run(s) trained" in out
    rows = store.trials([exp_id], role="confirm", states=["complete"])
    assert len(rows) == 6 and not any("fused" in r.extra for r in rows)  # fuse 1: one by one
    store.dispose()


def test_confirm_bad_input_is_one_error(searched, capsys):
    code, out, err = _run(capsys, "confirm", "-e", "nosuch", "--workspace", str(searched))
    assert code == 1 and "no experiment named 'nosuch'" in err and "Traceback" not in err
    code, _, err = _run(capsys, "confirm", "--seeds", "0", "--workspace", str(searched))
    assert code == 1 and "--seeds" in err
