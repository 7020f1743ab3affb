"""The HTML report on a database holding a real Optuna study and an NNI experiment."""

from __future__ import annotations

import re

import pytest
from test_analysis_stores import real_search

from kd_automl.analysis import write_report
from kd_automl.cli import main
from kd_automl.store import Store


@pytest.fixture(scope="module")
def both_db(tmp_path_factory):
    return real_search(tmp_path_factory.mktemp("both"))


def _run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code or 0, out, err


def test_report_covers_both_backends(both_db, tmp_path):
    store = Store(both_db)
    path = write_report(store, tmp_path / "r.html")
    doc = path.read_text()
    assert "tiny-optuna" in doc and "tiny-nni" in doc and ">nni<" in doc and ">optuna<" in doc
    assert "Best trial of each experiment" in doc
    # plotly.js is embedded once: the file opens offline
    assert len(doc) > 1_000_000 and not re.search(r'<script[^>]*src="http', doc)
    sections = set(re.findall(r'<section id="fig-([a-z_]+)"', doc))
    assert {"history", "importance", "parallel", "slice", "temperature_alpha", "curves",
            "gap_gain", "methods"} <= sections
    # both experiments train one student size: the size figures say why they are absent
    assert "pareto_params" not in sections and "size is fixed (the same in every experiment)" in doc
    store.dispose()


def test_report_cli_filters_and_empty_database(both_db, tmp_path, capsys):
    out = tmp_path / "nni.html"
    code, stdout, _ = _run(capsys, "report", "--db", both_db, "--experiment", "tiny-nni",
                           "--out", str(out))
    assert code == 0 and str(out) in stdout.replace("\n", "")
    doc = out.read_text()
    assert "tiny-nni" in doc and "tiny-optuna" not in doc
    code, _, err = _run(capsys, "report", "--db", both_db, "-e", "nope", "--out", str(out))
    assert code == 1 and "no experiment named 'nope'" in err and "tiny-nni" in err
    empty = tmp_path / "empty.html"
    code, _, _ = _run(capsys, "report", "--db", f"sqlite:///{tmp_path / 'e.db'}",
                      "--out", str(empty))
    assert code == 0 and "no experiments in this database yet" in empty.read_text()
