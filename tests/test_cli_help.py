"""What a newcomer reads first: ``--help`` (flags bare, ``SPEC`` in usage lines, the worker
named as typed), ``check``'s messages and the progress's first line. In-process, no search."""

from __future__ import annotations

import copy
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
    from kd_automl.engine.teacher import teacher_cached, teacher_fields
    from kd_automl.engine.teacher_cache import cache_key
    from kd_automl.spec import parse_spec
    from kd_automl.workspace import Workspace

    spec = parse_spec(tiny_spec_dict)
    ws = Workspace(tmp_path / "ws")
    assert teacher_cached(spec, ws) is False
    assert teacher_note(False).startswith("training the teacher")
    stem = f"digits-mlp-{cache_key(teacher_fields(spec, spec.teacher, spec.teacher_budget))}"
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


def test_check_reports_every_error_at_once_each_with_its_field(capsys, tmp_path,
                                                               tiny_spec_dict):
    d = copy.deepcopy(tiny_spec_dict)
    d["train"].update(epochs=0, lr=-1)  # pydantic's
    d["student"]["arch"] = "nosuchnet"  # the model registry's
    d["method"]["temperature"] = -1  # the method's
    code, _, err = run(capsys, "check", _write(tmp_path, d))
    assert code == 1 and "Traceback" not in err
    text = _words(err)
    assert "invalid experiment spec (4 problems)" in text
    for fragment in ("train.epochs:", "train.lr:", "student.arch: unknown model 'nosuchnet'",
                     "method.temperature:"):
        assert fragment in text, fragment
    # a model validator's error, and each bad search entry, beside each other
    d = {**tiny_spec_dict, "objectives": [{"metric": "val_acc"}, {"metric": "val_acc"}],
         "search": {"method.temperature": {"_type": "normal", "_value": [1]},
                    "method.alpha": {"_type": "uniform", "_value": [0.5]}}}
    code, _, err = run(capsys, "check", _write(tmp_path, d))
    text = _words(err)
    assert code == 1 and "Value error" not in err and "(3 problems)" in text
    assert "objectives: a metric is listed twice" in text
    assert "search.method.temperature:" in text and "search.method.alpha:" in text
    # values a search can sample: one problem per searched field
    d = {**tiny_spec_dict, "search": {
        "method.alpha": {"_type": "uniform", "_value": [0.0, 2.0]},
        "train.momentum": {"_type": "uniform", "_value": [0.5, 1.5]}}}
    code, _, err = run(capsys, "check", _write(tmp_path, d))
    text = _words(err)
    assert code == 1 and "(2 problems)" in text
    assert "search.method.alpha can sample 2.0" in text
    assert "search.train.momentum can sample 1.5" in text


def test_every_problem_of_a_pasted_spec_sits_on_its_line(tiny_spec_dict):
    from kd_automl.spec_check import check_text

    d = tiny_spec_dict
    d["train"]["epochs"] = 0
    d["student"]["arch"] = "nosuchnet"
    text = yaml.safe_dump(d, sort_keys=False)
    checked = check_text(text)
    assert not checked.ok and [p.field for p in checked.problems] == ["train.epochs",
                                                                      "student.arch"]
    lines = text.splitlines()
    assert [lines[p.line].strip() for p in checked.problems] == ["epochs: 0",
                                                                 "arch: nosuchnet"]


def test_check_says_where_a_spec_without_a_search_goes(capsys, tmp_path, tiny_spec_dict):
    tiny_spec_dict.pop("search")
    path = _write(tmp_path, tiny_spec_dict)
    code, out, _ = run(capsys, "check", path)
    text = _words(out)
    assert code == 0 and text.startswith("ok")
    assert f"one configuration, for `kd-automl train {path}`" in text
    assert "`kd-automl optuna` and `kd-automl nni start` need a `search:` section" in text
    code, _, err = run(capsys, "optuna", path, "--trials", "1",
                       "--workspace", str(tmp_path / "ws"))
    assert code == 1 and "nothing to tune" in err  # what check said the run would say


def _commands(group, path=()):
    for name, command in getattr(group, "commands", {}).items():
        yield (*path, name), command
        yield from _commands(command, (*path, name))


def test_every_command_summary_is_its_whole_first_paragraph_on_one_line(capsys, monkeypatch):
    import inspect

    import typer.main

    from kd_automl.cli import app

    commands = list(_commands(typer.main.get_command(app)))
    assert len(commands) > 20
    for path, command in commands:
        summary = command.get_short_help_str(80)
        first = " ".join(inspect.cleandoc(command.help or "").split("\n\n")[0].split())
        assert summary == first and "\n" not in summary, path
    monkeypatch.setenv("COLUMNS", "80")  # rich wraps at the panel's width, not the source's
    listing = _help(capsys)
    line = next(line for line in listing.splitlines() if "exported;" in line)
    assert "confirmed results" in line  # the source's line break after "confirmed" is gone
    assert "in the background (e.g. from the dashboard)" in _words(listing)
