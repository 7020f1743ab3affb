"""What ``kd-automl nni start`` prints while it watches an experiment, without NNI running:
a fake experiment handle answers the status and trial jobs that NNI's REST API would."""

from __future__ import annotations

import pytest
from helpers.stores import fill

from kd_automl.store import Store

pytest.importorskip("nni")


class FakeJob:
    def __init__(self, job_id: str, status: str):
        self.trialJobId, self.status = job_id, status


class FakeExperiment:
    """Polled by ``orchestrate.nni.progress.wait``: RUNNING with two jobs, then DONE."""

    def __init__(self, polls: list[tuple[str, dict[str, str]]]):
        self.polls, self.stopped = list(polls), False

    def _now(self):
        return self.polls[0] if len(self.polls) == 1 else self.polls.pop(0)

    def get_status(self) -> str:
        return self.polls[0][0]

    def list_trial_jobs(self) -> list[FakeJob]:
        _, jobs = self._now()
        return [FakeJob(j, s) for j, s in jobs.items()]

    def stop(self) -> None:
        self.stopped = True


class FakeLaunch:
    def __init__(self, handle):
        self.id, self.handle, self.store_name = "abc123", handle, "tiny-nni"


def test_a_log_gets_one_line_per_trial_then_the_status_and_how_to_view_it(
        tmp_path, capsys, monkeypatch):
    import kd_automl.orchestrate.nni.progress as progress
    from kd_automl.cli import nni as cli_nni

    db = f"sqlite:///{tmp_path / 'kd.db'}"
    store = Store(db)
    fill(store, 2, name="tiny-nni", backend="nni", failed=1)  # trials "0", "1" and "2"
    store.dispose()
    monkeypatch.setattr(progress.time, "sleep", lambda s: None)
    handle = FakeExperiment([
        ("RUNNING", {"0": "SUCCEEDED", "1": "RUNNING"}),
        ("RUNNING", {"0": "SUCCEEDED", "1": "SUCCEEDED", "2": "RUNNING"}),
        ("DONE", {"0": "SUCCEEDED", "1": "SUCCEEDED", "2": "FAILED"}),
    ])
    cli_nni._watch(FakeLaunch(handle), None, db, True, 3)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    trial_lines = [line for line in lines if "] trial " in line]
    assert len(trial_lines) == 3  # one per ended trial, each once
    assert "[1/3] trial 0 complete val_acc" in trial_lines[0]
    assert "temperature" in trial_lines[0] or "T=" in trial_lines[0]
    assert "trial 2 failed" in trial_lines[2] and "diverged" in trial_lines[2]
    status = next(line for line in lines if line.startswith("DONE"))
    assert status.endswith("%") and "succeeded 2/3" in status  # a line of its own
    assert "`kd-automl nni view abc123` serves it again" in err
    assert handle.stopped
    assert out.lstrip().startswith("Leaderboard") or "Leaderboard" in out.splitlines()[0]
