"""What a newcomer reads first: ``--help`` (flags bare, ``SPEC`` in usage lines, the worker
named as typed), ``check``'s messages and the progress's first line. In-process, no search."""

from __future__ import annotations

import re

import pytest
import yaml

from kd_automl.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


def _help(capsys, *command) -> str:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    return out


@pytest.mark.parametrize("command", [["leaderboard"], ["optuna"], ["check"], ["demo"],
                                     ["nni", "start"], ["dashboard"], ["optuna", "worker"]])
def test_help_shows_flags_bare_and_arguments_in_capitals(capsys, command):
    out = _help(capsys, *command)
    assert "<bool>" not in out
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage
    if command != ["leaderboard"] and command != ["dashboard"] and command != ["demo"]:
        assert re.search(r"\bSPEC\b", usage), usage


def test_a_flag_takes_no_value_and_its_help_says_so(capsys, tmp_path):
    out = _help(capsys, "leaderboard")
    line = next(line for line in out.splitlines() if "--reverse" in line)
    assert "<" not in line  # no metavar: a plain flag
    assert "(default: all)" in _words(out)  # --top


def test_worker_is_named_as_typed_and_listed_under_optuna(capsys):
    out = _help(capsys, "optuna", "worker")
    assert "kd-automl optuna worker" in out and "optuna-worker" not in out
    code, _, err = run(capsys, "optuna", "worker", "some.yaml")  # no --study: usage error
    assert code == 2 and "kd-automl optuna worker --help" in err and "optuna-worker" not in err
    assert "kd-automl optuna worker" in _help(capsys, "optuna")


def test_the_first_progress_line_says_whether_the_teacher_is_cached(tmp_path, tiny_spec_dict):
    from kd_automl.cli.progress import teacher_note
    from kd_automl.engine.teacher_cache import cache_key
    from kd_automl.engine.trial import _teacher_fields, teacher_cached
    from kd_automl.spec import parse_spec
    from kd_automl.workspace import Workspace

    spec = parse_spec(tiny_spec_dict)
    ws = Workspace(tmp_path / "ws")
    assert teacher_cached(spec, ws) is False
    assert teacher_note(False).startswith("training the teacher")
    stem = f"digits-mlp-{cache_key(_teacher_fields(spec, spec.teacher, spec.teacher_budget))}"
    folder = ws.folder("teachers")
    (folder / f"{stem}.pt").write_bytes(b"x")
    (folder / f"{stem}.json").write_text("{}")
    assert teacher_cached(spec, ws) is True and teacher_note(True) == "teacher: cached"
    # a search that varies the teacher has no one teacher to speak of
    varied = parse_spec({**tiny_spec_dict, "search": {
        **tiny_spec_dict["search"], "teacher.width": {"_type": "choice", "_value": [32, 64]}}})
    assert teacher_cached(varied, ws) is None
    assert "teacher" not in teacher_note(None)


def _words(text: str) -> str:
    """Help text as one line of words (rich wraps it in a box)."""
    return " ".join(text.replace("│", " ").split())


def _write(tmp_path, data) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_leaderboard_says_which_trials_it_does_not_show(capsys, tmp_path):
    from helpers.stores import fill

    from kd_automl.store import Store

    db = f"sqlite:///{tmp_path / 'kd.db'}"
    store = Store(db)
    fill(store, 12, pruned=3, failed=1)
    store.dispose()
    code, out, _ = run(capsys, "leaderboard", "--db", db)
    assert code == 0
    assert "12 of 16 search trials shown; not shown: 3 pruned, 1 failed (--state all)" \
        in _words(out)
    code, out, _ = run(capsys, "leaderboard", "--db", db, "--top", "10")
    assert "10 of 16 search trials shown; not shown: 2 complete beyond --top 10, 3 pruned, " \
        "1 failed (--state all)" in _words(out)
    code, out, _ = run(capsys, "leaderboard", "--db", db, "--state", "all")
    assert "search trials shown" not in out  # every trial is in the table


def test_the_reports_experiment_table_counts_search_trials_only(tmp_path):
    from helpers.stores import fill

    from kd_automl.analysis.report import _summary
    from kd_automl.store import Store

    store = Store(f"sqlite:///{tmp_path / 'kd.db'}")
    fill(store, 10, pruned=2)  # and the student alone: a baseline trial, complete
    html = _summary(store.experiments(), store.trials())
    assert "search trials by state" in html and "complete 10, pruned 2" in html
    store.dispose()
