"""The HTML report on a database holding a real Optuna study and an NNI experiment."""

from __future__ import annotations

import re

import pytest
from helpers.browser import ARTIFACTS
from helpers.browser import wait as _wait
from helpers.stores import fill, real_search

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
    assert {"history", "parallel", "slice", "temperature_alpha", "curves",
            "gap_gain", "methods"} <= sections
    # 3 + 2 completed trials: importance is not ranked, and the report says why
    assert "importance" not in sections and "too few trials to rank: tiny-optuna (3 of 10" in doc
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


def test_report_figures_render_in_a_browser(driver, tmp_path):  # noqa: F811 (fixture)
    """The report in headless Chromium: the T × alpha heatmap is drawn with the trial count
    in its cells, the history is in %, and a fixed-size study has no Pareto panel."""
    from selenium.webdriver.common.by import By

    store = Store(f"sqlite:///{tmp_path / 'kd.db'}")
    fill(store, 24, pruned=2)
    path = write_report(store, tmp_path / "report.html")
    store.dispose()
    driver.get(path.as_uri())
    fig = "#fig-temperature_alpha"
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, f"{fig} .main-svg"), what="figure")
    # the heatmap is an image drawn by plotly.js, with one count per non-empty cell
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, f"{fig} .hm image"), what="heatmap")
    counts = _wait(lambda: [int(t.text.split("n=")[1]) for t in driver.find_elements(
        By.CSS_SELECTOR, f"{fig} .hm text") if "n=" in t.text], what="cell counts")
    assert sum(counts) == 24
    # the scatter beside it: 24 trial markers
    assert len(driver.find_elements(By.CSS_SELECTOR, f"{fig} .scatterlayer .point")) == 24
    ticks = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#fig-history .ytick text")]
    assert ticks and all(float(t) > 50 for t in ticks if t)  # %, not fractions
    # no Pareto panel: the size is fixed, and one line says so
    assert not driver.find_elements(By.CSS_SELECTOR, "[id^=fig-pareto]")
    fixed = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "ul.muted li")
             if "size" in li.text]
    assert len(fixed) == 1 and "the student's size is fixed: 626 parameters" in fixed[0]
    ARTIFACTS.mkdir(exist_ok=True)
    driver.set_window_size(1400, 5000)
    driver.save_screenshot(str(ARTIFACTS / "report.png"))


def test_report_tables_and_figures_use_percent(both_db, tmp_path):
    store = Store(both_db)
    doc = write_report(store, tmp_path / "r.html").read_text()
    for head in ("best %", "val acc %", "test acc %", "gap %", "gain vs alone %"):
        assert f"<th>{head}</th>" in doc
    best = max(t.student_val_acc for t in store.trials() if t.role == "search"
               and t.state == "complete")
    assert f'<td class="n">{100 * best:.2f}</td>' in doc  # the table: %
    assert '"text":"student val_acc (%)"' in doc  # the figures' axes: %
    store.dispose()
